"""`vjepa train` in a subprocess whose step HOLD (env VJEPA_TEST_HOLD_STEP) waits, bounded,
until a stop signal has been received, after touching VJEPA_TEST_READY (no tests here). The
signal thus lands in the middle of a known step, without the test guessing with sleeps; the
resumed run (which starts past HOLD) never waits.

The hold is installed only where this file runs a job (`__main__`, or `train` in a Slurm job),
never on import: the Slurm tests import it in the pytest process to submit `hold_entry:train`,
and a patch on import would hold every later in-process run there."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from vjepa.cli import main
from vjepa.train.loop import Trainer

__test__ = False

_run_step = Trainer.run_step


def install_hold() -> None:
    """Make step VJEPA_TEST_HOLD_STEP of every run in this process wait for a stop signal."""
    hold = int(os.environ.get("VJEPA_TEST_HOLD_STEP", "-1"))
    ready = Path(os.environ.get("VJEPA_TEST_READY", os.devnull))

    def run_step_held(self: Trainer, micro: list, data_s: float):  # noqa: ANN202
        if self.step == hold:
            ready.touch()
            deadline = time.monotonic() + 120
            while self.stop.signum is None:  # real state: the handler has run
                if time.monotonic() > deadline:
                    raise TimeoutError(f"step {hold} held 120 s and no stop signal came")
                time.sleep(0.005)
        return _run_step(self, micro, data_s)

    Trainer.run_step = run_step_held


def train(cfg):  # noqa: ANN001, ANN201 (a submitit entry point: "hold_entry:train")
    """`vjepa.train.main:run` with step HOLD held (a Slurm job's entry point)."""
    from vjepa.train.main import run

    install_hold()
    return run(cfg)


if __name__ == "__main__":
    install_hold()
    sys.exit(main(sys.argv[1:]))
