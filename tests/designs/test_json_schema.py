"""``designs --json`` keeps the layout its man page documents (JSON OUTPUT), since sweeps collect
it: every top-level key, every key of ``oracle``, ``profile``, ``config`` and of each design's
object is documented there, and nothing documented is missing; values have the documented types."""

from __future__ import annotations

import re
from pathlib import Path

from ghostswap_cli.cli.demo import example_trace
from ghostswap_cli.designs import DESIGN_ALIASES, DESIGN_NAMES
from ghostswap_cli.designs.base import ROWS
from ghostswap_cli.designs.lab import JSON_SCHEMA_VERSION

PAGE = Path(__file__).resolve().parents[2] / "man" / "ghostswap-designs.1"


def json_section() -> list[str]:
    """The ``.TP`` entries of JSON OUTPUT, each as plain text."""
    src = PAGE.read_text().replace("\\-", "-")
    section = src[src.index('.SH "JSON OUTPUT"\n') : src.index(".SH FILES\n")]
    return section.split(".TP\n")[1:]


def documented(entry: str) -> list[str]:
    """Keys set in bold in one entry: ``.B key`` and the bold words of ``.BR a ", " b``."""
    keys = []
    for line in entry.splitlines():
        if line.startswith(".B "):
            keys.append(line[3:].strip())
        elif line.startswith(".BR "):
            keys += [w for w in re.findall(r'(?:^|" )([\w.-]+)', line[4:].split(' "(')[0])]
    return keys


def entry_for(key: str) -> str:
    return next(e for e in json_section() if documented(e.splitlines()[0] + "\n")[:1] == [key]
                or key in documented(e.splitlines()[0] + "\n"))


def test_top_level_keys_are_exactly_the_documented_ones(designs_json) -> None:
    r = designs_json(example_trace(), "--compressor", "lz4")
    heads = [k for e in json_section() for k in documented(e.splitlines()[0] + "\n")]
    assert sorted(heads) == sorted(r)
    assert r["schema_version"] == JSON_SCHEMA_VERSION == 2
    assert list(r["designs"]) == list(DESIGN_NAMES) == r["config"]["designs"]
    assert r["rows"] == [row.key for row in ROWS]
    assert r["design_aliases"] == DESIGN_ALIASES


def test_nested_keys_and_types(designs_json) -> None:
    r = designs_json(example_trace(), "--compressor", "lz4", "--designs", "ghost-rfc,vswap-24")
    for name in ("oracle", "profile", "config"):
        body = entry_for(name)
        assert set(documented(body)[1:]) == set(r[name]), name
    body = entry_for("designs")
    assert documented(body)[1:] == [row.key for row in ROWS]
    # the type each row's entry documents: "(a number ...)", "(text)", "(true or false)", else int
    annotated = {}
    for line in body.splitlines():
        m = re.match(r'\.BR ([\w-]+)(?: " \((.*)\)")?', line)
        if m:
            note = m.group(2) or ""
            annotated[m.group(1)] = (str if note == "text" else bool if note == "true or false"
                                     else float if note.startswith("a number") else int)
    for d in r["designs"].values():
        for row in ROWS:
            v, want = d[row.key], annotated[row.key]
            if want is float:
                assert v is None or type(v) in (int, float), row.key
            else:
                assert type(v) is want, row.key
    for key in ("events", "swapped_out", "zero_pages", "corrupt_pages", "page_size"):
        assert type(r[key]) is int
    assert isinstance(r["params"], dict) and "ghost-rfc.real_behind" in r["params"]
