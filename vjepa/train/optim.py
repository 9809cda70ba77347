"""AdamW with the official JEPA parameter groups, and applying a step's lr / wd to it."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn


def is_decayed(name: str, param: torch.Tensor) -> bool:
    """Official rule: weight decay on every parameter except biases and 1-D tensors."""
    return "bias" not in name and param.dim() != 1


def param_groups(modules: dict[str, nn.Module]) -> list[dict]:
    """Two groups per module (decayed, excluded), trainable parameters only.

    Args:
        modules: e.g. {"encoder": ..., "predictor": ...}; group names are "<module>.decay" and
            "<module>.no_decay". Excluded groups keep weight_decay 0 (official zero_init_bias_wd).
    """
    groups: list[dict] = []
    for decay in (True, False):  # official order: decayed groups first
        for mod_name, module in modules.items():
            params = [p for n, p in module.named_parameters()
                      if p.requires_grad and is_decayed(n, p) == decay]
            group = {"params": params, "name": f"{mod_name}.{'decay' if decay else 'no_decay'}",
                     "wd_exclude": not decay}
            if not decay:
                group["weight_decay"] = 0.0
            groups.append(group)
    return groups


def build_optimizer(
    modules: dict[str, nn.Module], betas: Iterable[float] = (0.9, 0.999), eps: float = 1e-8,
    fused: bool = False,
) -> torch.optim.AdamW:
    """AdamW over the official groups; `fused`: torch's fused kernel (CUDA and CPU), which
    also reads a `found_inf` flag on the device (vjepa.train.step skips a step with it)."""
    b1, b2 = (float(b) for b in betas)
    return torch.optim.AdamW(param_groups(modules), betas=(b1, b2), eps=eps,
                             fused=True if fused else None)


def is_fused(optimizer: torch.optim.Optimizer) -> bool:
    return bool(optimizer.defaults.get("fused"))


def load_optimizer_state(optimizer: torch.optim.Optimizer, state: dict) -> None:
    """Load a saved state into an optimizer built with this run's speed.fused_adamw: the
    saved groups' `fused` flag (a run resumed with the lever changed) is replaced by this
    optimizer's, and the step counts moved where that implementation keeps them (fused: on
    the parameter's device, else on the CPU)."""
    optimizer.load_state_dict(state)
    fused = optimizer.defaults.get("fused")
    for group in optimizer.param_groups:
        group["fused"] = fused
        for p in group["params"]:
            st = optimizer.state.get(p)
            if st and "step" in st:
                st["step"] = st["step"].to(p.device if fused else "cpu")


def apply_schedule(optimizer: torch.optim.Optimizer, lr: float, wd: float) -> None:
    """Set the lr of every group and the weight decay of the non-excluded groups."""
    for group in optimizer.param_groups:
        group["lr"] = lr
        if not group.get("wd_exclude", False):
            group["weight_decay"] = wd
