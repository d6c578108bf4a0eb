"""ghostswap help [COMMAND [SUBCOMMAND]] prints what --help prints."""

from __future__ import annotations

from ghostswap_cli.cli import COMMANDS

from .mantools import walk


def test_help_alone_is_the_root_help(run_cli):
    assert run_cli("help").stdout == run_cli("--help").stdout


def test_every_command_and_subcommand(run_cli):
    seen = 0
    for path, cmd in walk():
        if cmd is None or not path:
            continue
        via_help = run_cli("help", *path)
        assert via_help.exit_code == 0, via_help.output
        assert via_help.stdout == run_cli(*path, "--help").stdout
        assert via_help.stdout.startswith(f"Usage: cli {' '.join(path)} ")
        seen += 1
    assert seen >= len(COMMANDS) - 2 + 7  # every built command plus the kernel/trace subcommands


def test_required_options_do_not_get_in_the_way(run_cli):
    r = run_cli("help", "trace", "synth")
    assert r.exit_code == 0 and "--working-set PAGES" in r.stdout


def test_unknown_names_are_usage_errors(run_cli):
    r = run_cli("help", "nope")
    assert r.exit_code == 2 and "No such command 'nope'." in r.stderr
    r = run_cli("help", "kernel", "nope")
    assert r.exit_code == 2 and "No such command 'nope'." in r.stderr
    r = run_cli("help", "mkswap", "extra")
    assert r.exit_code == 2 and "has no subcommands" in r.stderr


def test_the_root_help_lists_help_and_the_new_commands(run_cli):
    out = run_cli("--help").stdout
    for name in ("help", "completion", "plot"):
        assert f"\n  {name} " in out


def test_help_through_the_entry_point(run_ghostswap):
    r = run_ghostswap("help", "kernel", "init")
    assert r.returncode == 0
    assert r.stdout.decode().startswith("Usage: ghostswap kernel init [OPTIONS]")
