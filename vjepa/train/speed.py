"""The `speed` levers of a config, resolved for a device and applied to the built model.

Each lever changes how a step runs, never what it computes (tests compare every one with the
plain path): fused AdamW (torch's one-kernel update; it also lets a non-finite step be skipped
on the device, vjepa.train.step), regional torch.compile of every transformer block, activation
checkpointing of the blocks, and packing the mask groups into one encoder and one predictor call
(vjepa.models.packing). `auto` picks the fast path on CUDA and the plain path on the CPU.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from vjepa.jepa import JEPA


@dataclass(frozen=True)
class Speed:
    """Resolved levers (no `auto` left)."""

    fused_adamw: bool = False
    compile: str = "off"  # off | blocks
    activation_checkpointing: bool = False
    pack: str = "off"  # off | predictor | pad

    def describe(self) -> str:
        return (f"fused_adamw={self.fused_adamw} compile={self.compile} "
                f"activation_checkpointing={self.activation_checkpointing} pack={self.pack}")


def resolve(speed: Any, device: torch.device) -> Speed:
    """A `speed` config section (vjepa.train.config.SpeedConfig, or None = all auto) for a
    device: `auto` is the fast choice on CUDA, the plain one elsewhere."""
    cuda = device.type == "cuda"

    def pick(value: Any, fast: Any, plain: Any) -> Any:
        value = "auto" if value is None else str(value)
        return (fast if cuda else plain) if value == "auto" else value

    get = (lambda name: getattr(speed, name)) if speed is not None else (lambda name: None)
    fused = pick(get("fused_adamw"), "on", "off")
    checkpointing = get("activation_checkpointing")
    return Speed(fused_adamw=fused == "on", compile=pick(get("compile"), "blocks", "off"),
                 activation_checkpointing=bool(checkpointing),
                 pack=pick(get("pack"), "predictor", "off"))


def block_lists(model: JEPA) -> list[torch.nn.ModuleList]:
    return [model.encoder.blocks, model.target_encoder.blocks, model.predictor.predictor_blocks]


def apply(model: JEPA, speed: Speed) -> JEPA:
    """Set the model-side levers on a built JEPA (in place; state-dict keys unchanged)."""
    model.pack = speed.pack
    model.encoder.grad_checkpointing = speed.activation_checkpointing
    model.predictor.grad_checkpointing = speed.activation_checkpointing
    if speed.compile == "blocks":
        compile_blocks(model)
    return model


def compile_blocks(model: JEPA, backend: str = "inductor") -> None:
    """Regional compilation: each block compiled in place (`nn.Module.compile`), so one graph
    per block shape serves every block of the same width and the parameter names stay. The
    changing sequence lengths of the masks are marked dynamic after the first recompile.
    `backend`: torch.compile's (tests use aot_eager: the same graphs, no C compiler)."""
    for blocks in block_lists(model):
        for blk in blocks:
            blk.compile(backend=backend)
