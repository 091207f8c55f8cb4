"""Fixtures from the harness (tests/integration is on pytest's pythonpath)."""

from harness import run_train, train_tool  # noqa: F401
