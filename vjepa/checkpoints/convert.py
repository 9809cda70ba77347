"""Conversions from this project's state dicts to the official layouts (the inverse of loading)."""

from __future__ import annotations

import torch

OFFICIAL_PREFIX: dict[str, str] = {"vjepa": "module.backbone.", "ijepa": "module."}


def to_official(state: dict[str, torch.Tensor], layout: str) -> dict[str, torch.Tensor]:
    """Add the wrapper prefix of the official `layout` ("vjepa" or "ijepa") to every key."""
    if layout not in OFFICIAL_PREFIX:
        known = sorted(OFFICIAL_PREFIX)
        raise ValueError(f"official layout must be one of {known}, got {layout!r}")
    prefix = OFFICIAL_PREFIX[layout]
    return {prefix + key: value.detach().cpu().clone() for key, value in state.items()}
