"""The fuzz targets of fuzz/targets.py, bounded, in the default run (fuzz/run.py runs them for
as long as asked). Each target asserts its own oracle: no traceback from any command, errors in
one line, failed commands change nothing, and page bytes are never wrong without a report."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fuzz import targets

FAST = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
CLI = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
STATE = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))


@FAST
@given(st.binary(max_size=600))
def test_header_codec(data: bytes) -> None:
    with targets.time_limit(30):
        targets.target_header(data)


@CLI
@given(st.binary(max_size=300))
def test_kernel_swapon_of_mutated_headers(data: bytes) -> None:
    with targets.time_limit(30):
        targets.target_swapon(data)


@CLI
@given(st.binary(max_size=600))
def test_probe_cli(data: bytes) -> None:
    with targets.time_limit(30):
        targets.target_probe(data)


@FAST
@given(st.binary(max_size=600))
def test_trace_readers(data: bytes) -> None:
    with targets.time_limit(30):
        targets.target_trace(data)


@CLI
@given(st.binary(max_size=300))
def test_replay_of_mutated_traces_through_the_cli(data: bytes) -> None:
    with targets.time_limit(60):
        targets.target_replay(data)


@STATE
@given(st.binary(min_size=8, max_size=200))
def test_corrupt_state_then_every_command(data: bytes) -> None:
    with targets.time_limit(120):
        targets.target_state(data)


def test_reader_decodes_past_the_end_as_zeros() -> None:
    r = targets.Reader(b"\x05")
    assert r.int(1) == 5 and r.int(4) == 0 and r.bytes(3) == b"\0\0\0"
    assert r.choice(["a", "b"]) == "a"
