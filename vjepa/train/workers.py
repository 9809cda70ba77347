"""DataLoader workers that die mid-epoch (the OOM killer, a decoder crashing in native code).

A dead worker loses the batches it was making; the step-indexed sampler makes them again, so
the loader is reopened at the step whose batch did not arrive and training goes on with the
same batches an uninterrupted run gets. Worker deaths are reported where a batch is fetched
only: torch's SIGCHLD handler would raise its RuntimeError wherever the main thread is (in
the middle of an optimizer step or a checkpoint write), so it is put back to the default after
the iterator starts, and the loader's own liveness check (every 5 s while waiting for a batch)
reports the death instead.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

log = logging.getLogger("vjepa.train")

MAX_DEATHS_IN_A_ROW = 3  # at one step: a sample that kills its worker every time


class WorkerDeaths(RuntimeError):
    """DataLoader workers died again and again at the same step."""


def is_worker_death(error: BaseException) -> bool:
    return isinstance(error, RuntimeError) and "DataLoader worker (pid" in str(error)


def start(loader: Any) -> Iterator:
    """iter(loader), with worker deaths surfacing in next() only (see the module text)."""
    main = threading.current_thread() is threading.main_thread()
    before = signal.getsignal(signal.SIGCHLD) if main else None
    it = iter(loader)
    if main and signal.getsignal(signal.SIGCHLD) is not before:
        signal.signal(signal.SIGCHLD, before if before is not None else signal.SIG_DFL)
    return it


def step_batches(open_at: Callable[[int], Iterator], start_step: int, stop: int, accum: int,
                 on_death: Callable[[int, str], None], describe: Callable[[int], str]
                 ) -> Iterator[tuple[list, float]]:
    """(the `accum` micro-batches of step s, seconds waited) for s in [start_step, stop), from
    iterators `open_at(s)` starts at step s. A worker death reopens at the step that failed
    (`on_death(step, error)` records it); MAX_DEATHS_IN_A_ROW at one step raise WorkerDeaths
    naming the step's samples (`describe(step)`)."""
    step, deaths = start_step, 0
    while step < stop:
        it = open_at(step)
        try:
            while step < stop:
                t0 = time.perf_counter()
                micro = [next(it) for _ in range(accum)]
                deaths = 0
                yield micro, time.perf_counter() - t0
                step += 1
        except RuntimeError as error:
            if not is_worker_death(error):
                raise
            deaths += 1
            on_death(step, str(error))
            if deaths >= MAX_DEATHS_IN_A_ROW:
                raise WorkerDeaths(
                    f"DataLoader workers died {deaths} times in a row loading step {step} "
                    f"({describe(step)}); a file that crashes the decoder, or too little memory "
                    f"for data.num_workers? data.num_workers=0 shows the error in the main "
                    f"process; data_prep/check_videos.py checks files") from error
            log.warning("step %d: %s; the data loader restarts at this step (%d in a row)",
                        step, error, deaths)
        finally:
            del it  # shuts the old workers down
