"""Shared pytest fixtures."""

from __future__ import annotations

import pytest


@pytest.fixture
def fast_meta_init(monkeypatch):
    """Meta tensors hold no values: skip the (slow on meta) trunc-normal draws, keep shapes."""
    for module in ("vjepa.models.init", "vjepa.models.predictor"):
        monkeypatch.setattr(f"{module}.trunc_normal_", lambda t, std=1.0: t)
