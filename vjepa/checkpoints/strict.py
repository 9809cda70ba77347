"""Strict state-dict loading that reports every difference at once."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from vjepa.checkpoints.errors import StateDictMismatchError


def check_state(model: nn.Module, state: dict[str, torch.Tensor], path: str, what: str) -> None:
    """Raise listing every missing, unexpected and mis-shaped key of `state` for `model`."""
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


def build_loaded(build: Callable[[], nn.Module], state: dict[str, torch.Tensor], path: str,
                 what: str) -> nn.Module:
    """Build the module without initialising it (meta device), check `state` strictly, then
    take copies of its tensors, cast to the module's dtypes, as the parameters.

    Skips the random initialisation (seconds for a ViT-L on a CPU) and never returns a
    partially loaded module: anything left uninitialised raises.
    """
    with torch.device("meta"):
        model = build()
    check_state(model, state, path, what)
    expected = model.state_dict()
    copies = {k: v.to(dtype=expected[k].dtype, copy=True) for k, v in state.items()}
    model.load_state_dict(copies, strict=True, assign=True)
    left = [n for n, t in (*model.named_parameters(), *model.named_buffers()) if t.is_meta]
    if left:
        raise RuntimeError(f"{path}: {what} left tensors uninitialised: {left}")
    return model
