"""Counting non-finite losses: a skipped step is counted in step order, whether its finite
flag was read on the host at once or decided on the device and read later (one transfer per
metric row). Too many in a row stop the run."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import torch

log = logging.getLogger("vjepa.train")


class NonFiniteLossError(RuntimeError):
    """Too many non-finite losses in a row; the last checkpoint predates them."""


@dataclass
class NonFiniteCounter:
    max_run: int  # optim.max_nonfinite
    run_dir: Path
    run: int = 0  # in a row, up to the last counted step
    total: int = 0
    pending: list[tuple[int, torch.Tensor]] = field(default_factory=list)  # not yet read

    def defer(self, step: int, finite: torch.Tensor) -> None:
        """A device flag, to be counted at the next `settle`."""
        self.pending.append((step, finite))

    def settle(self) -> None:
        """Read the pending device flags (one transfer) and count them in step order, exactly
        as if each had been read in its step."""
        if not self.pending:
            return
        steps = [s for s, _ in self.pending]
        flags = torch.stack([f for _, f in self.pending]).tolist()
        self.pending.clear()
        for step, finite in zip(steps, flags, strict=True):
            self.count(bool(finite), step)

    def count(self, finite: bool, step: int) -> None:
        if finite:
            self.run = 0
            return
        self.run += 1
        self.total += 1
        log.warning("step %d: non-finite loss, update skipped (%d in a row, %d in total)",
                    step, self.run, self.total)
        if self.run >= self.max_run:
            self.pending.clear()
            raise NonFiniteLossError(
                f"{self.run} non-finite losses in a row (optim.max_nonfinite={self.max_run}) "
                f"at step {step}; the last checkpoint in {self.run_dir / 'checkpoints'} "
                f"predates them"
            )
