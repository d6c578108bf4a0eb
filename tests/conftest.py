"""Shared fixtures: an isolated state directory and environment for every test, the real CLI
through click's CliRunner, and the real CLI as a subprocess."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from ghostswap_cli.cli import cli


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own state directory, no colour and a fixed width."""
    state = tmp_path_factory.mktemp("state") / "ghostswap"
    monkeypatch.setenv("GHOSTSWAP_STATE", str(state))
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("xdg")))
    return state


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A directory with a short path (under /tmp, not pytest's long tmp_path), so /proc/swaps
    pads names to 40 columns as it does for real swap files."""
    d = Path(tempfile.mkdtemp(prefix="gs", dir="/tmp"))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def state_dir(isolated_env: Path) -> Path:
    return isolated_env


@pytest.fixture
def run_cli():
    """Run ``ghostswap ARGS`` in-process; returns click's Result (stdout and stderr apart)."""
    runner = CliRunner()

    def run(*args: str, input: str | bytes | None = None, env: dict[str, str] | None = None) -> Result:
        return runner.invoke(cli, [str(a) for a in args], input=input, env=env, catch_exceptions=False)

    return run


@pytest.fixture
def run_ghostswap():
    """Run ``ghostswap ARGS`` as a real subprocess (``python -m ghostswap_cli``)."""

    def run(*args: str, input: bytes | None = None, env: dict[str, str] | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[bytes]:
        full_env = dict(os.environ)
        if env:
            full_env.update(env)
        return subprocess.run(
            [sys.executable, "-m", "ghostswap_cli", *[str(a) for a in args]],
            input=input, capture_output=True, env=full_env, timeout=timeout, check=False,
        )

    return run
