"""Run-folder locks: one `vjepa train` / `vjepa extract` / `vjepa eval` writer per output folder.

The lock is a JSON file in the folder (``.vjepa.lock``, or one per shard) naming its owner:
pid, host, start time, the process's kernel start tick (so a recycled pid is not mistaken for
the owner), the command and, inside Slurm, the job id. A second writer meets it and refuses
while the owner lives; a lock whose owner is gone (same host: no such process; same Slurm job:
a previous attempt of this job, e.g. before a requeue) is taken over with a warning. A lock
from another host outside Slurm cannot be checked from here and is refused, with the file to
delete if its owner is known to be gone.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from vjepa import distributed

log = logging.getLogger("vjepa")

LOCK_NAME = ".vjepa.lock"


class RunFolderLocked(RuntimeError):
    """Another live process writes to this folder."""


def _proc_start(pid: int) -> int | None:
    """Kernel start tick of a process (field 22 of /proc/<pid>/stat), None if unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[19])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def owner_record(what: str) -> dict[str, Any]:
    pid = os.getpid()
    return {"pid": pid, "host": socket.gethostname(), "what": what,
            "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "proc_start": _proc_start(pid), "command": " ".join(sys.argv),
            "slurm_job_id": os.environ.get("SLURM_JOB_ID")}


def stale_reason(owner: dict[str, Any]) -> str | None:
    """Why the lock's owner is certainly gone, or None when it may be alive."""
    job = os.environ.get("SLURM_JOB_ID")
    if job and owner.get("slurm_job_id") == job and owner.get("pid") != os.getpid():
        return f"an earlier attempt of Slurm job {job} (requeued)"
    if owner.get("host") != socket.gethostname():
        return None
    pid = int(owner.get("pid", -1))
    if pid <= 0 or not _alive(pid):
        return f"process {pid} no longer exists"
    recorded = owner.get("proc_start")
    if recorded is not None and _proc_start(pid) not in (None, recorded):
        return f"process {pid} is another process now (pid reused)"
    return None


def describe(owner: dict[str, Any]) -> str:
    return (f"{owner.get('what', '?')} pid {owner.get('pid')} on {owner.get('host')} since "
            f"{owner.get('started')} ({owner.get('command', '')!r})")


def _read(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}  # unreadable / half-written: its owner's state is unknown


def acquire(folder: str | Path, what: str, name: str = LOCK_NAME) -> Path:
    """Take the lock of `folder` (created if needed) for this process; returns the lock file.

    Raises:
        RunFolderLocked: a live (or uncheckable) owner holds it; the message names it.
    """
    path = Path(folder) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    mine = owner_record(what)
    for _ in range(5):  # a lost race with another taker: look again
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            owner = _read(path)
            if owner is None:
                continue
            _take_over_or_refuse(path, owner, what)
            continue
        with os.fdopen(fd, "w") as f:
            json.dump(mine, f)
        return path
    raise RunFolderLocked(f"{path}: could not take the lock (other processes keep taking it)")


def _take_over_or_refuse(path: Path, owner: dict[str, Any], what: str) -> None:
    reason = stale_reason(owner) if owner else None
    if reason is None:
        raise RunFolderLocked(
            f"{path.parent} is in use by {describe(owner)}; refusing to start {what} there. "
            f"Wait for it to end or use another folder; if that process is known to be gone "
            f"(another host), delete {path}")
    claimed = path.with_name(f"{path.name}.stale-{os.getpid()}")
    try:
        os.rename(path, claimed)  # exactly one taker wins the rename
    except FileNotFoundError:
        return
    claimed.unlink(missing_ok=True)
    log.warning("%s: taking over the stale lock of %s: %s", path.parent, describe(owner), reason)


def release(path: Path) -> None:
    """Remove the lock if this process still owns it."""
    owner = _read(path)
    if owner and owner.get("pid") == os.getpid() and owner.get("host") == socket.gethostname():
        path.unlink(missing_ok=True)


@contextmanager
def folder_lock(folder: str | Path, what: str, name: str = LOCK_NAME) -> Iterator[Path]:
    """`with folder_lock(run_dir, "vjepa train"):` hold the folder for the block."""
    path = acquire(folder, what, name)
    try:
        yield path
    finally:
        release(path)


def acquire_for_job(folder: str | Path, what: str, env: distributed.DistEnv) -> Path | None:
    """Rank 0 takes the folder's lock (returned; None on the other ranks); every rank raises
    RunFolderLocked if it cannot, so that no rank starts writing there."""
    lock, problem = None, None
    if env.is_main:
        try:
            lock = acquire(folder, what)
        except RunFolderLocked as error:
            problem = str(error)
    problem = distributed.broadcast_object(problem)
    if problem:
        raise RunFolderLocked(problem)
    return lock
