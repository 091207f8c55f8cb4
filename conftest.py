"""Fixtures shared by every package's tests."""

import pytest


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """Offline for real: an empty torch cache and every HTTPS request sent to a closed local port."""
    torch_home = tmp_path / "torch_home"
    monkeypatch.setenv("TORCH_HOME", str(torch_home))
    monkeypatch.setenv("https_proxy", "http://127.0.0.1:9")
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    return torch_home
