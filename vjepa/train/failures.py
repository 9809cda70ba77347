"""What a run says when it cannot go on: checks made before anything is built, the failure
recorded in its run folder."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from vjepa.data.index import read_index_file
from vjepa.train.signals import Interrupted

log = logging.getLogger("vjepa.train")

SOURCES_HINT = ("index files of `path label` lines or folders root/<class>/<file>; "
                "data.sources=[] trains on the bundled synthetic set")


def check_sources(data: Any) -> None:
    """Every `data.sources` entry exists, and index files parse (cheap next to building a
    model): raises ValueError naming the source, before a model or a run folder exists."""
    for source in data.sources:
        path = Path(str(source)).expanduser()
        if not path.exists():
            raise ValueError(f"config data.sources: {source} does not exist "
                             f"(expected {SOURCES_HINT})")
        if path.is_file() and not read_index_file(path):
            raise ValueError(f"config data.sources: index file {source} lists no samples")


@contextmanager
def failure_logged(handler: logging.Handler | None) -> Iterator[None]:
    """On an exception, write it with its traceback to the run's log file (the console gets
    its own copy from the caller), then re-raise it."""
    try:
        yield
    except Interrupted as stop:  # a requested stop, not a failure
        log.info("%s", stop)
        raise
    except Exception as error:
        if handler is not None:
            handler.handle(log.makeRecord(
                log.name, logging.ERROR, __file__, 0, "run failed: %s: %s",
                (type(error).__name__, error), sys.exc_info()))
        raise
