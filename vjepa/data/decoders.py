"""Video readers: one small interface over decord, PyAV and (optionally) torchcodec.

Every reader answers the same four questions::

    with open_video("clip.mp4", backend="pyav", num_threads=1) as reader:
        len(reader)                      # number of frames
        reader.fps                       # average frames per second
        frames = reader.get_batch([0, 4, 8])   # uint8 numpy array [T, H, W, C], RGB

The contract: frame ``i`` is the ``i``-th frame that a plain sequential decode of the whole
video stream outputs (presentation order), and every backend returns exactly that frame for
any sequence of ``get_batch`` calls on one reader (any order, repeats, consecutive windows,
backward jumps), bit for bit (H.264/VP9 decoding is exact and all backends convert YUV to RGB
with FFmpeg's swscale defaults). The frame table comes from the packets
(``vjepa.data.packet_index``): B-frame reordering, open GOPs, variable frame rate, non-zero
start times and files cut inside a GOP are indexed by timestamp, not by count.
``tests/test_data_readers_exact.py`` checks it as a property on generated files of each kind.

Failures raise :class:`DecodeError`, whose ``reason`` is one of :data:`DECODE_REASONS`, so
the datasets can count broken files per kind instead of crashing a worker.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Generic, TypeVar

import numpy as np

from vjepa.data.reader_base import (
    BACKENDS,
    DECODE_REASONS,
    DEFAULT_BACKEND,
    DecodeError,
    VideoReader,
    available_backends,
    check_file,
)
from vjepa.data.readers import DecordReader, PyAVReader, TorchCodecReader

__all__ = [
    "BACKENDS", "DECODE_REASONS", "DEFAULT_BACKEND", "BoundedCall", "DecodeError", "DecordReader",
    "PyAVReader", "TorchCodecReader", "VideoReader", "available_backends", "check_file",
    "check_timeout", "open_video", "read_frames", "run_bounded",
]

_READERS: dict[str, type[VideoReader]] = {
    "pyav": PyAVReader,
    "decord": DecordReader,
    "torchcodec": TorchCodecReader,
}


def open_video(
    path: str | Path, backend: str = DEFAULT_BACKEND, num_threads: int = 1
) -> VideoReader:
    """Open ``path`` for random frame access.

    Args:
        path: a video file.
        backend: ``"pyav"`` (default), ``"decord"`` or ``"torchcodec"``.
        num_threads: decoder threads; keep 1 when many DataLoader workers share the cores
            (0 lets the backend pick, which oversubscribes a multi-worker loader).

    Returns:
        A :class:`VideoReader`; use it in a ``with`` block so it is always closed.

    Raises:
        ValueError: unknown backend or negative ``num_threads``.
        DecodeError: the file is missing, empty, unreadable or not a decodable video.
    """
    if backend not in _READERS:
        raise ValueError(f"unknown video backend {backend!r}; choose one of {BACKENDS}")
    if num_threads < 0:
        raise ValueError(f"num_threads must be >= 0, got {num_threads}")
    return _READERS[backend](check_file(path), num_threads=num_threads)


T = TypeVar("T")


class BoundedCall(Generic[T]):
    """``fn`` started now in a daemon thread; :meth:`result` waits for it at most ``timeout_s``.

    Past the bound the thread is abandoned (a native decoder stuck in C code cannot be
    interrupted; a daemon thread does not keep the process alive at exit) and
    ``DecodeError(path, "timeout")`` is raised, so the caller reports the file and goes on.
    Whatever the thread still holds (an open reader) must then be left to it, not closed.
    """

    def __init__(self, fn: Callable[[], T], path: str | Path) -> None:
        self.path = path
        self.abandoned = False  # result() timed out: whatever the thread holds is left to it
        self._result: list[T] = []
        self._failure: list[BaseException] = []
        self._thread = threading.Thread(target=self._target, args=(fn,), daemon=True,
                                        name=f"decode:{Path(path).name}")
        self._thread.start()

    def _target(self, fn: Callable[[], T]) -> None:
        try:
            self._result.append(fn())
        except BaseException as error:  # handed to the caller by result(), never swallowed
            self._failure.append(error)

    def wait(self, timeout_s: float | None) -> bool:
        """True once the call has ended, waiting at most ``timeout_s`` (not at all once
        abandoned)."""
        if not self.abandoned:
            self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def result(self, timeout_s: float | None) -> T:
        """The call's value or its exception; ``timeout_s=None`` waits as long as it takes."""
        if not self.wait(timeout_s):
            self.abandoned = True
            raise DecodeError(self.path, "timeout", f"no result after {timeout_s:g} s")
        if self._failure:
            raise self._failure[0]
        return self._result[0]


def check_timeout(timeout_s: float | None) -> None:
    """A bound is None or a finite number of seconds > 0 (a thread join refuses inf)."""
    if timeout_s is not None and not 0 < timeout_s < math.inf:
        raise ValueError(f"timeout_s must be positive or None, got {timeout_s}")


def run_bounded(fn: Callable[[], T], timeout_s: float | None, path: str | Path) -> T:
    """Run ``fn`` with a wall-clock bound; raise ``DecodeError(path, "timeout")`` past it
    (:class:`BoundedCall`). ``timeout_s=None`` runs ``fn`` inline."""
    check_timeout(timeout_s)
    if timeout_s is None:
        return fn()
    return BoundedCall(fn, path).result(timeout_s)


def read_frames(
    path: str | Path,
    indices: Sequence[int] | Callable[[int, float], np.ndarray],
    backend: str = DEFAULT_BACKEND,
    num_threads: int = 1,
    timeout_s: float | None = 30.0,
) -> tuple[np.ndarray, np.ndarray, int, float]:
    """Open, read and close in one bounded call.

    Args:
        indices: frame indices, or a function ``(num_frames, fps) -> indices`` when they
            depend on the video length (clip sampling).

    Returns:
        ``(frames uint8 [T, H, W, C], indices int64 [T], num_frames, fps)``.
    """

    def work() -> tuple[np.ndarray, np.ndarray, int, float]:
        with open_video(path, backend=backend, num_threads=num_threads) as reader:
            n, fps = len(reader), reader.fps
            idx = indices(n, fps) if callable(indices) else indices
            idx = np.asarray(idx, dtype=np.int64)
            return reader.get_batch(idx.tolist()), idx, n, fps

    return run_bounded(work, timeout_s, path)
