"""Errors of checkpoint loading; each names the file it is about."""

from __future__ import annotations

import os
import re


class CheckpointError(ValueError):
    """A checkpoint cannot be read or used; the message names the file and the problem."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class UnsupportedCheckpointError(CheckpointError):
    """A recognised layout this project cannot represent (e.g. V-JEPA 2 RoPE encoders)."""


class StateDictMismatchError(CheckpointError):
    """Strict loading failed: lists every missing, unexpected and mis-shaped key."""

    def __init__(
        self,
        path: str,
        what: str,
        missing: list[str],
        unexpected: list[str],
        mismatched: list[tuple[str, tuple[int, ...], tuple[int, ...]]],
    ) -> None:
        self.missing, self.unexpected, self.mismatched = missing, unexpected, mismatched
        lines = [f"{what} does not match the model built for it:"]
        if missing:
            lines.append(f"  missing keys ({len(missing)}): {', '.join(missing)}")
        if unexpected:
            lines.append(f"  unexpected keys ({len(unexpected)}): {', '.join(unexpected)}")
        for key, got, want in mismatched:
            lines.append(f"  shape mismatch {key}: checkpoint {list(got)}, model {list(want)}")
        super().__init__(path, "\n".join(lines))


class WriteError(OSError):
    """Writing a checkpoint, export or feature file failed (disk full, read-only, ...); the
    previous file at that path, if any, is intact."""

    def __init__(self, path: str, cause: OSError) -> None:
        self.path = str(path)
        self.cause = cause
        reason = cause.strerror or str(cause)
        super().__init__(cause.errno, f"cannot write {self.path}: {reason} "
                                      f"(errno {cause.errno}); the previous file is intact")

    def __str__(self) -> str:
        return self.strerror or ""

    def __reduce__(self) -> tuple:  # picklable (submitit returns errors to the caller)
        return (type(self), (self.path, self.cause))


def write_failure(path: str, error: BaseException) -> WriteError | None:
    """`error` raised while writing `path` as a WriteError, if it is an I/O failure: an
    OSError, or a library's wrapper of one (safetensors' "... (os error 28)", torch's zip
    writer's "file write failed"); None for anything else."""
    if isinstance(error, WriteError):
        return error
    if isinstance(error, OSError):
        return WriteError(path, error)
    text = str(error)
    found = re.search(r"os error (\d+)", text)
    if found:
        code = int(found.group(1))
        return WriteError(path, OSError(code, os.strerror(code)))
    if "write failed" in text or "I/O error" in text:
        return WriteError(path, OSError(None, f"{type(error).__name__}: {text}"))
    return None
