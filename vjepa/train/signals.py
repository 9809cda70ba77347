"""Stop requests: SIGTERM / SIGUSR1 / SIGUSR2 (what Slurm and submitit send before a time limit
or a preemption) and SIGINT (Ctrl-C) make training finish the step it is in, write a
checkpoint and stop with `Interrupted`, instead of dying mid-step.

`StopRequests` only records the signal (its handler runs between two bytecodes of the main
thread); the training loop asks `requested()` after each step. A second SIGINT while the step
finishes raises KeyboardInterrupt at once (the user insists). DataLoader workers ignore these
signals (`ignore_in_worker`): a terminal's Ctrl-C and Slurm's signals reach the whole process
group, and a worker that died of them would end the run with a DataLoader traceback.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import torch

from vjepa import distributed

log = logging.getLogger("vjepa.train")

STOP_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGTERM, signal.SIGUSR1, signal.SIGUSR2,
                                            signal.SIGINT)
REQUEUE_SIGNALS: frozenset[int] = frozenset({signal.SIGUSR1, signal.SIGUSR2})


class Interrupted(Exception):  # noqa: N818 (a stop on request, not an error)
    """Training stopped on a signal after finishing a step; a checkpoint of that step exists."""

    def __init__(self, signum: int, step: int, total: int, run_dir: Path,
                 checkpoint: Path | None) -> None:
        self.signum, self.step, self.total = signum, step, total
        self.run_dir, self.checkpoint = Path(run_dir), checkpoint
        saved = f"checkpoint {checkpoint}" if checkpoint else "no checkpoint written"
        super().__init__(f"stopped by {signal.Signals(signum).name} at step {step} of {total}; "
                         f"{saved}")

    @property
    def exit_code(self) -> int:
        return 128 + self.signum  # the shell's convention for "ended by signal N"

    def __reduce__(self) -> tuple:
        return (type(self), (self.signum, self.step, self.total, self.run_dir, self.checkpoint))


class StopRequests:
    """Install with `with StopRequests() as stop:`; previous handlers come back on exit (and
    are kept in `previous`, e.g. submitit's requeue handler)."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.previous: dict[int, Any] = {}

    def __enter__(self) -> StopRequests:
        if threading.current_thread() is threading.main_thread():  # else: signals stay as set
            for sig in STOP_SIGNALS:
                self.previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is not None and signum == signal.SIGINT == self.signum:
            raise KeyboardInterrupt  # a second Ctrl-C: stop now
        if self.signum is None:
            self.signum = signum
            log.warning("received %s: finishing this step, then checkpoint and stop",
                        signal.Signals(signum).name)

    def requested(self, device: torch.device) -> int | None:
        """The signal received by any rank (all ranks agree), or None: collective."""
        local = self.signum or 0
        if distributed.active():
            flag = torch.tensor([local], device=device)
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
            local = int(flag.item())
        return local or None


def ignore_in_worker(_worker_id: int) -> None:
    """DataLoader worker_init_fn: the main process decides when to stop, not its workers."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)


def requeue_handler(stop: StopRequests) -> Callable[[int, FrameType | None], Any] | None:
    """The handler that was installed before training for SIGUSR2 (submitit's requeue), if
    it is a Python callable."""
    handler = stop.previous.get(signal.SIGUSR2)
    return handler if callable(handler) else None
