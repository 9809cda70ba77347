"""Checkpoint layouts: one adapter (`Layout`) per layout reads and writes it.

Layouts (top-level dicts of `torch.load`):
    "vjepa"        facebookresearch/jepa (V-JEPA) pretraining files and the non-RoPE V-JEPA 2
                   files: "encoder"/"target_encoder"/"predictor" keyed `module.backbone.<name>`.
    "ijepa"        facebookresearch/ijepa: the same top-level keys, prefix `module.` only.
    "vjepa-train"  this project's training checkpoints ("format": "vjepa-checkpoint-v1",
                   written by vjepa.train.checkpoint; names without prefixes).
    "plain"        the pretraining top-level keys without any wrapper prefix.
    "probe"        attentive-probe files ("classifier", keys `module.pooler.*`, `module.linear.*`).
    "state_dict"   a bare state dict (every value a tensor), taken as an encoder.
`LAYOUTS[name].read(ckpt, which, path)` gives a state dict with this package's names;
`LAYOUTS[name].write({which: state, ...}, **extra)` the checkpoint dict that reads back to it
(and that the official loaders take: tests/test_layouts.py).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from vjepa.checkpoints.errors import CheckpointError, UnsupportedCheckpointError

TRAIN_FORMAT = "vjepa-checkpoint-v1"
PRETRAIN_KEYS = ("target_encoder", "encoder", "predictor")
WRAPPERS = ("module.", "backbone.")


def strip_wrappers(state: dict[str, Any], path: str) -> dict[str, torch.Tensor]:
    """Remove leading `module.` and `backbone.` (DDP and MultiMask wrappers) from every key.

    Only leading prefixes are removed (the official loaders' `str.replace` would also rewrite
    a `module.` in the middle of a name). Two keys that collapse to one name raise.
    """
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if not isinstance(value, torch.Tensor):
            raise CheckpointError(path, f"state dict entry {key!r} is a {type(value).__name__}")
        name = key
        for prefix in WRAPPERS:
            name = name.removeprefix(prefix)
        if name in out:
            raise CheckpointError(path, f"keys collide after stripping wrappers: {name!r}")
        out[name] = value
    return out


def _prefix_layout(state: dict[str, Any]) -> str:
    keys = list(state)
    for name in ("vjepa", "ijepa"):  # the longer prefix first
        if keys and all(k.startswith(LAYOUTS[name].prefix) for k in keys):
            return name
    return "plain"


def detect_layout(ckpt: dict[str, Any], path: str) -> str:
    """Name of the layout of a loaded checkpoint (see the module docstring)."""
    if "format" in ckpt:
        if ckpt["format"] != TRAIN_FORMAT:
            raise CheckpointError(path, f"unknown checkpoint format {ckpt['format']!r}")
        return "vjepa-train"
    if "classifier" in ckpt:
        return "probe"
    if "ema_encoder" in ckpt:
        raise UnsupportedCheckpointError(
            path, "V-JEPA 2.1 checkpoint ('ema_encoder'): RoPE encoders are not supported yet"
        )
    present = [k for k in PRETRAIN_KEYS if k in ckpt]
    if present:
        state = ckpt[present[0]]
        if not isinstance(state, dict):
            raise CheckpointError(path, f"{present[0]!r} is a {type(state).__name__}, not a dict")
        return _prefix_layout(state)
    if ckpt and all(isinstance(v, torch.Tensor) for v in ckpt.values()):
        return "state_dict"
    raise CheckpointError(
        path, f"unrecognised checkpoint layout; top-level keys: {sorted(map(str, ckpt))}"
    )


def default_which(layout: str) -> str:
    return "classifier" if layout == "probe" else "target_encoder"


def select_state(ckpt: dict[str, Any], layout: str, which: str, path: str) -> dict[str, Any]:
    """The raw (still wrapped) state dict `which` of a checkpoint."""
    if layout == "state_dict":
        if which not in ("encoder", "target_encoder"):
            raise CheckpointError(path, f"a bare state dict holds one encoder, not {which!r}")
        return ckpt
    if which not in ckpt or ckpt[which] is None:
        available = [k for k in (*PRETRAIN_KEYS, "classifier") if ckpt.get(k) is not None]
        raise CheckpointError(path, f"no {which!r} in this {layout} checkpoint; has {available}")
    state = ckpt[which]
    if not isinstance(state, dict):
        raise CheckpointError(path, f"{which!r} is a {type(state).__name__}, not a state dict")
    return state


@dataclass(frozen=True)
class Layout:
    """How one layout keys its state dicts: `prefix` before every name (the official DDP /
    MultiMask wrappers), each state dict under a top-level key (`bare`: the file is the one
    state dict)."""

    name: str
    prefix: str = ""
    bare: bool = False

    def read(self, ckpt: dict[str, Any], which: str, path: str) -> dict[str, torch.Tensor]:
        """The state dict `which` of a loaded checkpoint with this package's names."""
        return strip_wrappers(select_state(ckpt, self.name, which, path), path)

    def write(self, states: Mapping[str, Mapping[str, torch.Tensor]], **extra: Any
              ) -> dict[str, Any]:
        """The checkpoint dict holding `states` ({which: state dict with this package's
        names}) in this layout, plus the plain `extra` entries (e.g. epoch)."""
        if self.bare and (len(states) != 1 or extra):
            raise ValueError(f"a {self.name} file holds one state dict and nothing else, got "
                             f"{sorted(states)} and {sorted(extra)}")
        out = {which: {self.prefix + k: v.detach().cpu().clone() for k, v in state.items()}
               for which, state in states.items()}
        return next(iter(out.values())) if self.bare else {**out, **extra}


LAYOUTS: dict[str, Layout] = {
    "vjepa": Layout("vjepa", "module.backbone."),
    "ijepa": Layout("ijepa", "module."),
    "vjepa-train": Layout("vjepa-train"),
    "plain": Layout("plain"),
    "probe": Layout("probe", "module."),
    "state_dict": Layout("state_dict", bare=True),
}
OFFICIAL = ("vjepa", "ijepa")  # the layouts `vjepa export --format` writes


def official(name: str) -> Layout:
    """The adapter of an official layout ("vjepa" or "ijepa"); another name raises."""
    if name not in OFFICIAL:
        raise ValueError(f"official layout must be one of {sorted(OFFICIAL)}, got {name!r}")
    return LAYOUTS[name]
