"""Trace replay, synthesis and capture."""
