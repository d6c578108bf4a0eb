"""Traces are untrusted input (issue 8): file: pages never come from outside the trace's folder
or a directory the user allowed, however the path is spelled."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ghostswap_cli.codec.trace import REFUSE_MESSAGE, _PageFiles, open_trace, open_trace_writer
from ghostswap_cli.errors import TraceError

PS = 4096


@pytest.fixture
def layout(tmp_path: Path) -> dict[str, Path]:
    """tmp/traces/deep/ holds the traces; tmp/secret.bin and tmp/shared/lib.bin are outside."""
    deep = tmp_path / "traces" / "deep"
    deep.mkdir(parents=True)
    (deep / "own.bin").write_bytes(b"o" * PS)
    (deep / "sub").mkdir()
    (deep / "sub" / "below.bin").write_bytes(b"b" * PS)
    (tmp_path / "secret.bin").write_bytes(b"s" * PS)
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "lib.bin").write_bytes(b"l" * PS)
    return {"root": tmp_path, "deep": deep}


def trace_with(folder: Path, spec: str, name: str = "t.trace") -> Path:
    p = folder / name
    p.write_text(f"ghostswap-trace 1\n# reads {spec}\nout 1 file:{spec}\n")
    return p


def read(p: Path, **kw) -> list:
    with open_trace(p, **kw) as r:
        return list(r)


@pytest.mark.parametrize("spec", ["../../etc/shadow:0", "../../secret.bin:0", "/etc/shadow:0",
                                  "/etc/passwd:0", "sub/../../../secret.bin:0", "..:0", "/:0"])
def test_paths_outside_are_refused(layout: dict[str, Path], spec: str) -> None:
    p = trace_with(layout["deep"], spec)
    path = spec.rsplit(":", 1)[0]
    with pytest.raises(TraceError) as e:
        read(p)
    assert str(e.value) == f"{p}:line 3: " + REFUSE_MESSAGE.format(path=path)
    assert str(e.value).endswith("outside the allowed directories (use --allow-dir)")


def test_the_message_reads_as_documented(layout: dict[str, Path]) -> None:
    p = trace_with(layout["deep"], "../../etc/shadow:0")
    with pytest.raises(TraceError, match=r"refusing to read \.\./\.\./etc/shadow: outside the "
                                         r"allowed directories \(use --allow-dir\)"):
        read(p)


def test_paths_inside_are_read(layout: dict[str, Path]) -> None:
    deep = layout["deep"]
    assert read(trace_with(deep, "own.bin:0"))[0][2] == b"o" * PS
    assert read(trace_with(deep, "sub/below.bin:0"))[0][2] == b"b" * PS
    assert read(trace_with(deep, "sub/../own.bin:0"))[0][2] == b"o" * PS
    assert read(trace_with(deep, f"{deep}/own.bin:0"))[0][2] == b"o" * PS  # absolute, but inside


def test_a_symlink_escaping_the_folder_is_refused(layout: dict[str, Path]) -> None:
    deep = layout["deep"]
    (deep / "innocent.bin").symlink_to(layout["root"] / "secret.bin")
    (deep / "linkdir").symlink_to(layout["root"])
    for spec in ("innocent.bin:0", "linkdir/secret.bin:0"):
        with pytest.raises(TraceError, match="refusing to read .*outside the allowed directories"):
            read(trace_with(deep, spec))


def test_a_symlink_staying_inside_is_followed(layout: dict[str, Path]) -> None:
    deep = layout["deep"]
    (deep / "alias.bin").symlink_to(deep / "sub" / "below.bin")
    assert read(trace_with(deep, "alias.bin:0"))[0][2] == b"b" * PS


def test_allow_dirs_open_more(layout: dict[str, Path]) -> None:
    deep, root = layout["deep"], layout["root"]
    p = trace_with(deep, "../../shared/lib.bin:0")
    with pytest.raises(TraceError, match="refusing"):
        read(p)
    assert read(p, allow_dirs=[root / "shared"])[0][2] == b"l" * PS
    # allowing shared/ does not allow its parent
    with pytest.raises(TraceError, match="refusing"):
        read(trace_with(deep, "../../secret.bin:0", "s.trace"), allow_dirs=[root / "shared"])
    # a symlinked allow-dir is resolved the same way
    (root / "shared-link").symlink_to(root / "shared")
    assert read(p, allow_dirs=[root / "shared-link"])[0][2] == b"l" * PS


def test_a_sibling_with_a_common_prefix_is_outside(layout: dict[str, Path]) -> None:
    deep = layout["deep"]
    twin = deep.parent / (deep.name + "-evil")
    twin.mkdir()
    (twin / "x.bin").write_bytes(b"x" * PS)
    with pytest.raises(TraceError, match="refusing"):
        read(trace_with(deep, f"../{twin.name}/x.bin:0"))


def test_special_files_are_refused_not_read(layout: dict[str, Path]) -> None:
    deep = layout["deep"]
    os.mkfifo(deep / "fifo")  # reading would block forever
    with pytest.raises(TraceError, match="cannot read fifo: not a regular file"):
        read(trace_with(deep, "fifo:0"))


def test_binary_writer_applies_the_same_rules(layout: dict[str, Path]) -> None:
    with pytest.raises(TraceError, match="refusing to read ../secret.bin"), \
            open_trace_writer(layout["root"] / "shared" / "w.gstrace", "binary") as w:
        w.out(1, "file:../secret.bin:0")
    assert not (layout["root"] / "shared" / "w.gstrace").exists()


def test_open_files_are_cached_and_bounded(tmp_path: Path) -> None:
    for i in range(10):
        (tmp_path / f"f{i}.bin").write_bytes(bytes([i]) * PS)
    files = _PageFiles(str(tmp_path), (), max_open=4)
    try:
        for _ in range(3):
            for i in range(10):
                assert files.read(f"f{i}.bin", 0, PS) == bytes([i]) * PS
                assert len(files._open) <= 4
        fd = files._fd("f9.bin")
        assert files._fd("f9.bin") == fd  # a hit reuses the descriptor
    finally:
        files.close()
    assert not files._open
