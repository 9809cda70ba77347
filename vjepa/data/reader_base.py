"""The reader interface shared by every video backend, its failure reasons and file checks."""

from __future__ import annotations

import abc
import importlib.util
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import numpy as np

BACKENDS: tuple[str, ...] = ("pyav", "decord", "torchcodec")
DEFAULT_BACKEND = "pyav"

DECODE_REASONS: tuple[str, ...] = (
    "missing",  # the path does not exist
    "empty",  # zero bytes
    "unreadable",  # exists but cannot be opened as a file (directory, permissions, I/O error)
    "not_video",  # a file FFmpeg cannot open or that has no video stream
    "truncated",  # the container promises more frames than its packets hold
    "short_decode",  # decoding produced fewer frames than the index promised
    "timeout",  # open + decode took longer than the configured bound
    "too_short",  # fewer frames than one clip window, under the "filter" short-video policy
    "not_image",  # an image file PIL cannot decode
)


class DecodeError(RuntimeError):
    """A video could not be decoded; ``reason`` says why (one of ``DECODE_REASONS``)."""

    def __init__(self, path: str | Path, reason: str, detail: str = "") -> None:
        if reason not in DECODE_REASONS:
            raise ValueError(f"unknown failure reason {reason!r}; use one of {DECODE_REASONS}")
        self.path = str(path)
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {path}" + (f" ({detail})" if detail else ""))


def available_backends() -> list[str]:
    """Backends whose Python package is importable here, in order of preference."""
    modules = {"pyav": "av", "decord": "decord", "torchcodec": "torchcodec"}
    return [b for b in BACKENDS if importlib.util.find_spec(modules[b]) is not None]


def check_file(path: str | Path) -> Path:
    """Cheap checks before handing a path to a decoder (decoders misreport these cases).

    Raises:
        DecodeError: ``missing``, ``unreadable`` or ``empty``.
    """
    path = Path(path)
    if not path.exists():
        raise DecodeError(path, "missing")
    if not path.is_file():
        raise DecodeError(path, "unreadable", "not a regular file")
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            handle.read(1)
    except OSError as error:
        raise DecodeError(path, "unreadable", str(error)) from error
    if size == 0:
        raise DecodeError(path, "empty")
    return path


class VideoReader(abc.ABC):
    """A random-access video reader. Use it as a context manager so it is always closed."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.closed = False
        self._length = 0  # set by each backend once the file is open
        self._fps = 0.0
        # video packets whose frames a sequential decode does not output (before the first
        # keyframe, discard-flagged, leading pictures): a stream-copy cut inside a GOP, an
        # edit list, or damage that cleared keyframe flags; set by the packet-indexing backends
        self.packets_not_output = 0

    def __len__(self) -> int:
        """Number of frames."""
        return self._length

    @property
    def fps(self) -> float:
        """Average frame rate."""
        return self._fps

    @abc.abstractmethod
    def _read(self, indices: list[int]) -> np.ndarray:
        """Decode ``indices`` (already validated) into uint8 [T, H, W, C]."""

    @abc.abstractmethod
    def _close(self) -> None:
        """Release decoder resources."""

    def get_batch(self, indices: Sequence[int]) -> np.ndarray:
        """Frames at ``indices`` (any order, repeats allowed) as uint8 RGB [T, H, W, C]."""
        if self.closed:
            raise ValueError(f"reader for {self.path} is closed")
        idx = [int(i) for i in indices]
        if not idx:
            raise ValueError("get_batch needs at least one frame index, got none")
        n = len(self)
        bad = [i for i in idx if i < 0 or i >= n]
        if bad:
            raise ValueError(f"frame indices {bad[:5]} out of range [0, {n}) for {self.path}")
        return self._read(idx)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._close()

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _gather(frames: dict[int, np.ndarray], indices: list[int], path: Path) -> np.ndarray:
    missing = sorted(set(indices) - frames.keys())
    if missing:
        raise DecodeError(path, "short_decode", f"frames {missing[:5]} never decoded")
    return np.stack([frames[i] for i in indices])

