"""tests/fixtures/linux-6.1/cases.py, loaded once for the tests that replay its recordings."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "linux-6.1"


def load_cases():
    if "linux61_cases" not in sys.modules:
        spec = importlib.util.spec_from_file_location("linux61_cases", FIXTURES / "cases.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules["linux61_cases"] = module
        spec.loader.exec_module(module)
    return sys.modules["linux61_cases"]


def recorded(name: str) -> dict:
    """recorded/NAME.json, or the test is skipped (record.py has not been run)."""
    path = FIXTURES / "recorded" / f"{name}.json"
    if not path.exists():
        pytest.skip(f"{path.name} not recorded (run tests/fixtures/linux-6.1/record.py)")
    return json.loads(path.read_text())
