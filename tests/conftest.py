"""Shared pytest fixtures, and the opt-in of the Slurm integration tests (slurm_gate.py)."""

from __future__ import annotations

import pytest
from slurm_gate import gate_slurm_tests


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    gate_slurm_tests(items)


@pytest.fixture
def fast_meta_init(monkeypatch):
    """Meta tensors hold no values: skip the (slow on meta) trunc-normal draws, keep shapes."""
    for module in ("vjepa.models.init", "vjepa.models.predictor"):
        monkeypatch.setattr(f"{module}.trunc_normal_", lambda t, std=1.0: t)
