"""Shell completion: the scripts, and completions computed by click's machinery through the
lazy root group (in-process, through the real entry point, and through bash itself)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.shell_completion import BashComplete, ZshComplete

from ghostswap_cli.cli import cli

SW = {"swaplabel", "swapoff", "swapon", "swapshow", "sweep"}


def complete(words: list[str], incomplete: str) -> list[str]:
    comp = BashComplete(cli, {}, "ghostswap", "_GHOSTSWAP_COMPLETE")
    return [item.value for item in comp.get_completions(words, incomplete)]


def test_bash_script(run_cli, tmp_path: Path):
    r = run_cli("completion", "bash")
    assert r.exit_code == 0
    script = r.stdout
    assert "_GHOSTSWAP_COMPLETE=bash_complete" in script
    assert "complete -o nosort -F _ghostswap_completion ghostswap" in script
    path = tmp_path / "ghostswap.bash"
    path.write_text(script)
    check = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stderr


def test_zsh_and_fish_scripts(run_cli):
    zsh = run_cli("completion", "zsh")
    assert zsh.exit_code == 0 and "#compdef ghostswap" in zsh.stdout
    assert "_GHOSTSWAP_COMPLETE=zsh_complete" in zsh.stdout
    fish = run_cli("completion", "fish")
    assert fish.exit_code == 0 and "complete --no-files --command ghostswap" in fish.stdout
    assert "_GHOSTSWAP_COMPLETE=fish_complete" in fish.stdout


def test_an_unknown_shell_is_a_usage_error(run_cli):
    r = run_cli("completion", "tcsh")
    assert r.exit_code == 2 and "'tcsh' is not one of 'bash', 'zsh', 'fish'" in r.stderr


def test_command_names_complete_through_the_lazy_group():
    assert set(complete([], "sw")) == SW
    assert set(complete([], "")) >= {"mkswap", "kernel", "replay", "plot", "completion", "help"}
    zsh = ZshComplete(cli, {}, "ghostswap", "_GHOSTSWAP_COMPLETE")
    items = zsh.get_completions([], "sw")
    assert {i.value for i in items} == SW
    assert all(i.help for i in items)  # zsh and fish show each command's one-line help


def test_subcommands_options_and_choices_complete():
    assert set(complete(["kernel"], "")) >= {"init", "reset", "show"}
    assert set(complete(["trace"], "")) >= {"synth", "convert", "info", "capture"}
    assert set(complete(["kernel", "init"], "--p")) == {"--page-size", "--personality",
                                                         "--prio-scheme"}
    assert set(complete(["replay"], "--")) >= {"--commit-every", "--json", "--timeline",
                                               "--plot", "--state", "--help"}
    assert complete(["kernel", "init", "--personality"], "") == ["ghost", "mainline"]
    assert complete(["completion"], "") == ["bash", "zsh", "fish"]


def test_help_completes_command_names():
    assert complete(["help"], "ke") == ["kernel"]
    assert set(complete(["help", "kernel"], "")) >= {"init", "reset", "show"}
    assert complete(["help", "mkswap"], "") == []


def test_completion_through_the_entry_point(run_ghostswap):
    r = run_ghostswap(env={"_GHOSTSWAP_COMPLETE": "bash_complete", "COMP_WORDS": "ghostswap sw",
                           "COMP_CWORD": "1"})
    assert r.returncode == 0, r.stderr
    assert set(r.stdout.decode().split()) == {f"plain,{n}" for n in SW}


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_bash_itself_completes_sw(run_cli, tmp_path: Path):
    """Source the script into bash and call its completion function as bash would on TAB."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    exe = bin_dir / "ghostswap"
    exe.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m ghostswap_cli "$@"\n')
    exe.chmod(0o755)
    script = tmp_path / "ghostswap.bash"
    script.write_text(run_cli("completion", "bash").stdout)
    driver = (
        f'source "{script}"\n'
        "COMP_WORDS=(ghostswap sw); COMP_CWORD=1\n"
        "_ghostswap_completion ghostswap sw ghostswap\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    r = subprocess.run(["bash", "-c", driver], capture_output=True, text=True, env=env,
                       check=False, timeout=120)
    assert r.returncode == 0, r.stderr
    assert set(r.stdout.split()) == SW
