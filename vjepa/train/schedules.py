"""Learning-rate, weight-decay and EMA-momentum schedules as pure functions of the global step.

The formulas equal the official I-JEPA / V-JEPA schedulers. Their loops advance the lr and wd
schedulers *before* each iteration, so iteration `step` (0-based) uses the schedulers' internal
counter `step + 1`; the momentum generator yields its i-th value at iteration i (0-based). Being
functions of the step, they need no replay on resume.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Schedules:
    """Args:
    warmup_steps: linear warmup length, `int(warmup_epochs * ipe)`.
    total_steps: cosine horizon (official T_max), `int(ipe_scale * epochs * ipe)`.
    momentum_steps: EMA horizon, `ipe * epochs * ipe_scale` (not truncated, as official).
    """

    warmup_steps: int
    total_steps: int
    momentum_steps: float
    start_lr: float
    ref_lr: float
    final_lr: float
    ref_wd: float
    final_wd: float
    ema_start: float
    ema_end: float

    def __post_init__(self) -> None:
        if self.total_steps <= 0 or self.momentum_steps <= 0:
            raise ValueError(
                f"schedule horizons must be positive, got total_steps={self.total_steps}, "
                f"momentum_steps={self.momentum_steps}"
            )
        if self.warmup_steps < 0:
            raise ValueError(f"warmup_steps must be >= 0, got {self.warmup_steps}")

    def lr(self, step: int) -> float:
        """Linear warmup from start_lr to ref_lr, then cosine down to final_lr (floored)."""
        k = step + 1
        if k < self.warmup_steps:
            return self.start_lr + k / max(1, self.warmup_steps) * (self.ref_lr - self.start_lr)
        progress = (k - self.warmup_steps) / max(1, self.total_steps - self.warmup_steps)
        half_cos = 0.5 * (1.0 + math.cos(math.pi * progress))
        return max(self.final_lr, self.final_lr + (self.ref_lr - self.final_lr) * half_cos)

    def wd(self, step: int) -> float:
        """Cosine from ref_wd to final_wd over total_steps, clamped at final_wd."""
        progress = (step + 1) / self.total_steps
        half_cos = 0.5 * (1.0 + math.cos(math.pi * progress))
        value = self.final_wd + (self.ref_wd - self.final_wd) * half_cos
        if self.final_wd <= self.ref_wd:
            return max(self.final_wd, value)
        return min(self.final_wd, value)

    def momentum(self, step: int) -> float:
        """Linear from ema_start to ema_end over momentum_steps, held at ema_end after."""
        value = self.ema_start + step * (self.ema_end - self.ema_start) / self.momentum_steps
        return min(value, self.ema_end)


def make_schedules(
    ipe: int,
    epochs: int,
    ipe_scale: float,
    warmup: float,
    start_lr: float,
    lr: float,
    final_lr: float,
    weight_decay: float,
    final_weight_decay: float,
    ema: tuple[float, float] | list[float],
) -> Schedules:
    """The official schedules from a recipe's optimisation values (`ipe` iterations per epoch)."""
    if ipe <= 0 or epochs <= 0 or ipe_scale <= 0:
        raise ValueError(
            f"ipe, epochs, ipe_scale must be positive, got {ipe}, {epochs}, {ipe_scale}"
        )
    return Schedules(
        warmup_steps=int(warmup * ipe),
        total_steps=int(ipe_scale * epochs * ipe),
        momentum_steps=ipe * epochs * ipe_scale,
        start_lr=start_lr, ref_lr=lr, final_lr=final_lr,
        ref_wd=weight_decay, final_wd=final_weight_decay,
        ema_start=float(ema[0]), ema_end=float(ema[1]),
    )
