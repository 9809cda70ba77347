"""Strict state-dict loading that reports every difference at once."""

from __future__ import annotations

import torch
from torch import nn

from vjepa.checkpoints.errors import StateDictMismatchError


def load_strict(model: nn.Module, state: dict[str, torch.Tensor], path: str, what: str) -> None:
    """Copy `state` into `model`; any missing, unexpected or mis-shaped key raises, listing all.

    Nothing is copied unless everything matches, so a failed load never leaves a partial model.
    """
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    mismatched = [
        (key, tuple(state[key].shape), tuple(value.shape))
        for key, value in expected.items()
        if key in state and state[key].shape != value.shape
    ]
    if missing or unexpected or mismatched:
        raise StateDictMismatchError(path, what, missing, unexpected, mismatched)
    model.load_state_dict(state, strict=True)
