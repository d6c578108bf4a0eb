"""The README: the fixed quick start, and every command, page and example it names exists."""

from __future__ import annotations

import re

import click

from ghostswap_cli.cli import cli

from .mantools import MAN, ROOT, root_context

README = (ROOT / "README.md").read_text(encoding="utf-8")
QUICK_START = """```sh
python3 -m pip install . && ghostswap demo
python3 -m pip install '.[test]' && python3 -m pytest
```"""


def code_blocks(text: str) -> list[str]:
    return re.findall(r"^```[a-z]*\n(.*?)^```", text, re.M | re.S)


def test_the_quick_start_is_exactly_the_two_commands():
    section = README[README.index("## Quick start"):]
    section = section[: section.index("\n## ", 3)]
    assert QUICK_START in section
    assert code_blocks(section) == [QUICK_START.split("\n", 1)[1].rsplit("```", 1)[0]]
    assert README.index("## Quick start") < README.index("## A guided tour")


def test_sections():
    for title in ("## The ghost swapfile, and why", "## A guided tour",
                  "## Making and inspecting swap areas", "## Page traces",
                  "## How it maps to the kernel and util-linux", "## The state directory",
                  "## The design lab", "## Examples", "## Shell completion", "## Plots",
                  "## Benchmarks", "## Limitations"):
        assert f"\n{title}\n" in README, title


def _resolve(words: list[str]) -> click.Command | None:
    ctx = root_context()
    cmd: click.Command = cli
    for word in words:
        if not isinstance(cmd, click.Group):
            return cmd
        sub = cmd.get_command(ctx, word)
        if sub is None:
            return None
        ctx = click.Context(sub, info_name=word, parent=ctx)
        cmd = sub
    return cmd


def test_every_command_in_the_code_blocks_exists():
    seen = set()
    for block in code_blocks(README):
        for m in re.finditer(r"(?:^\$ |^|&& |\$\()ghostswap ((?:[a-z]+ ?){1,2})", block, re.M):
            words = m.group(1).split()
            group = _resolve(words[:1])
            assert group is not None, f"README runs unknown command: ghostswap {words[0]}"
            if isinstance(group, click.Group) and len(words) > 1:
                assert _resolve(words[:2]) is not None, f"unknown: ghostswap {' '.join(words)}"
            seen.add(words[0])
    assert {"mkswap", "swapon", "cat", "replay", "trace", "completion", "plot"} <= seen


def test_options_in_the_guided_tour_exist(run_cli):
    tour = README[README.index("## A guided tour"):README.index("## Making and inspecting")]
    for block in code_blocks(tour):
        for line in block.splitlines():
            if not line.startswith("$ ghostswap "):
                continue
            words = line[2:].split("|")[0].split()[1:]
            path = [w for w in words[:2] if not w.startswith("-")]
            cmd = _resolve(path[:1])
            if isinstance(cmd, click.Group):
                cmd = _resolve(path[:2])
            assert cmd is not None, line
            known = {o for p in cmd.params if isinstance(p, click.Option) for o in p.opts}
            for w in words:
                if w.startswith("--"):
                    assert w.split("=")[0] in known, f"{line}: {w}"


def test_named_man_pages_and_examples_exist():
    for name in set(re.findall(r"\b(ghostswap(?:-[a-z]+)?\.[18])\b", README)):
        assert (MAN / name).exists(), name
    for name in set(re.findall(r"examples/([\w-]+\.sh)", README)):
        assert (ROOT / "examples" / name).exists(), name
    for script in (ROOT / "examples").glob("*.sh"):
        assert script.name in README, script.name


def test_benchmarks_and_limitations_are_honest():
    assert "python -m benchmarks" in README and "benchmarks/RESULTS.md" in README
    limits = README[README.index("## Limitations"):]
    for fact in ("trace decides", "One CPU", "swap cache", "compacted", "zstd and deflate",
                 "Block devices are refused", "tmpfs"):
        assert fact in limits, fact
