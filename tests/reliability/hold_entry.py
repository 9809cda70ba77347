"""`vjepa train` in a subprocess whose step HOLD (env VJEPA_TEST_HOLD_STEP) waits, bounded,
until a stop signal has been received, after touching VJEPA_TEST_READY (no tests here). The
signal thus lands in the middle of a known step, without the test guessing with sleeps; the
resumed run (which starts past HOLD) never waits."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from vjepa.cli import main
from vjepa.train.loop import Trainer

__test__ = False

HOLD = int(os.environ.get("VJEPA_TEST_HOLD_STEP", "-1"))
READY = Path(os.environ.get("VJEPA_TEST_READY", os.devnull))
_run_step = Trainer.run_step


def run_step_held(self: Trainer, micro: list, data_s: float):  # noqa: ANN201
    if self.step == HOLD:
        READY.touch()
        deadline = time.monotonic() + 120
        while self.stop.signum is None:  # real state: the handler has run
            if time.monotonic() > deadline:
                raise TimeoutError(f"step {HOLD} held 120 s and no stop signal came")
            time.sleep(0.005)
    return _run_step(self, micro, data_s)


Trainer.run_step = run_step_held

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))


def train(cfg):  # noqa: ANN001, ANN201 (a submitit entry point: "hold_entry:train")
    """`vjepa.train.main:run` with step HOLD held (a Slurm job's entry point)."""
    from vjepa.train.main import run

    return run(cfg)
