"""Video readers: one small interface over decord, PyAV and (optionally) torchcodec.

Every reader answers the same four questions::

    with open_video("clip.mp4", backend="pyav", num_threads=1) as reader:
        len(reader)                      # number of frames
        reader.fps                       # average frames per second
        frames = reader.get_batch([0, 4, 8])   # uint8 numpy array [T, H, W, C], RGB

Frame ``i`` is the ``i``-th frame in presentation order, so the same indices give
bit-identical frames from every backend (H.264/VP9 decoding is exact and all backends
convert YUV to RGB with FFmpeg's swscale defaults; the tests check it).

Failures raise :class:`DecodeError`, whose ``reason`` is one of :data:`DECODE_REASONS`, so
the datasets can count broken files per kind instead of crashing a worker.
"""

from __future__ import annotations

import abc
import importlib.util
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import TypeVar

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


class PyAVReader(VideoReader):
    """PyAV reader. Opening demuxes the packet table (no decoding) to map frame index to
    presentation timestamp and keyframe, so ``get_batch`` seeks only when a keyframe lies
    between the decoder position and the next wanted frame."""

    def __init__(self, path: str | Path, num_threads: int = 1) -> None:
        super().__init__(path)
        import av

        try:
            self._container = av.open(str(self.path), mode="r")
        except (av.error.FFmpegError, UnicodeDecodeError) as error:
            raise DecodeError(self.path, "not_video", str(error)) from error
        try:
            self._index_packets(av, num_threads)
        except BaseException:
            self._container.close()
            raise

    def _index_packets(self, av: object, num_threads: int) -> None:
        if not self._container.streams.video:
            raise DecodeError(self.path, "not_video", "no video stream")
        stream = self._container.streams.video[0]
        if num_threads != 1:
            stream.thread_type = "AUTO"
        stream.codec_context.thread_count = num_threads
        pts: list[int] = []
        key: list[bool] = []
        try:
            for packet in self._container.demux(stream):
                if packet.pts is not None and packet.size > 0:
                    pts.append(packet.pts)
                    key.append(bool(packet.is_keyframe))
        except av.error.FFmpegError as error:  # type: ignore[attr-defined]
            raise DecodeError(self.path, "truncated", str(error)) from error
        if not pts:
            raise DecodeError(self.path, "not_video", "video stream holds no packets")
        order = np.argsort(pts, kind="stable")
        self._pts = np.asarray(pts, dtype=np.int64)[order]
        self._is_key = np.asarray(key, dtype=bool)[order]
        self._pts_to_index = {int(p): i for i, p in enumerate(self._pts)}
        if stream.frames and stream.frames > len(self._pts):
            detail = f"header says {stream.frames} frames, found {len(self._pts)}"
            raise DecodeError(self.path, "truncated", detail)
        rate = stream.average_rate or stream.guessed_rate
        self._fps = float(rate) if rate else float(len(self._pts))
        self._length = len(self._pts)
        self._stream = stream
        self._frames = None  # live decode iterator after a seek
        self._position = -1  # index of the last frame taken from the iterator
        self._wanted: set[int] = set()  # frames of the current get_batch call
        self.skip_unwanted = True  # skip non-reference frames nobody asked for

    def _seek(self, target: int) -> None:
        keys = np.flatnonzero(self._is_key[: target + 1])
        keyframe = int(keys[-1]) if len(keys) else 0
        self._container.seek(int(self._pts[keyframe]), stream=self._stream, backward=True)
        self._frames = self._decode()
        self._position = -1

    def _decode(self) -> Iterator[tuple[int, object]]:
        """(index, frame) in presentation order from the current position. Packets of frames
        that are not wanted are sent with ``skip_frame=NONREF``: the decoder then drops them
        when no other frame refers to them (most B-frames), which saves a large share of the
        decoding work and cannot change any other frame."""
        context = self._stream.codec_context
        for packet in self._container.demux(self._stream):
            index = self._pts_to_index.get(packet.pts) if packet.pts is not None else None
            context.skip_frame = "NONREF" if self.skip_unwanted and index is not None and \
                index not in self._wanted else "DEFAULT"
            for frame in packet.decode():
                position = self._pts_to_index.get(frame.pts, -1)
                if position >= 0:
                    yield position, frame

    def _needs_seek(self, target: int) -> bool:
        if self._frames is None or target <= self._position:
            return True
        # Seek forward only when a keyframe lies strictly after the current position.
        return bool(self._is_key[self._position + 1 : target + 1].any())

    def _read(self, indices: list[int]) -> np.ndarray:
        import av

        wanted = sorted(set(indices))
        self._wanted = set(wanted)
        frames: dict[int, np.ndarray] = {}
        try:
            for target in wanted:
                if target in frames:
                    continue
                if self._needs_seek(target):
                    self._seek(target)
                for index, frame in self._frames:
                    self._position = index
                    if index in self._wanted:
                        frames[index] = frame.to_ndarray(format="rgb24")
                    if index >= target:
                        break
                else:
                    self._frames = None
        except av.error.FFmpegError as error:
            self._frames = None
            raise DecodeError(self.path, "short_decode", str(error)) from error
        return _gather(frames, indices, self.path)

    def _close(self) -> None:
        self._frames = None
        self._container.close()


class DecordReader(VideoReader):
    """decord reader (the official V-JEPA loader's decoder), CPU context."""

    def __init__(self, path: str | Path, num_threads: int = 1) -> None:
        super().__init__(path)
        import decord

        try:
            self._reader = decord.VideoReader(str(self.path), num_threads=num_threads)
        except decord.DECORDError as error:
            raise DecodeError(self.path, "truncated", str(error)) from error
        except RuntimeError as error:
            raise DecodeError(self.path, "not_video", str(error)) from error
        self._length = len(self._reader)
        if self._length == 0:
            raise DecodeError(self.path, "not_video", "no frames")
        self._fps = float(self._reader.get_avg_fps())

    def _read(self, indices: list[int]) -> np.ndarray:
        import decord

        try:
            batch = self._reader.get_batch(indices).asnumpy()
        except (decord.DECORDError, RuntimeError) as error:
            # decord's traceback frames hold its reader (and the open file) in a reference
            # cycle that only the garbage collector would free: cut it so close() releases now.
            detail = str(error)
            error.__traceback__ = None
            raise DecodeError(self.path, "short_decode", detail) from None
        if batch.shape[0] != len(indices):
            raise DecodeError(
                self.path, "short_decode", f"asked {len(indices)} frames, got {batch.shape[0]}"
            )
        return batch

    def _close(self) -> None:
        del self._reader


class TorchCodecReader(VideoReader):
    """torchcodec reader (optional extra ``vjepa[torchcodec]``), exact seek mode."""

    def __init__(self, path: str | Path, num_threads: int = 1) -> None:
        super().__init__(path)
        from torchcodec.decoders import VideoDecoder

        try:
            self._decoder = VideoDecoder(
                str(self.path),
                seek_mode="exact",
                dimension_order="NHWC",
                num_ffmpeg_threads=num_threads,
            )
        except (RuntimeError, ValueError) as error:
            detail = str(error)
            error.__traceback__ = None  # see DecordReader._read: release the file now
            raise DecodeError(self.path, "not_video", detail) from None
        meta = self._decoder.metadata
        self._length = int(meta.num_frames or 0)
        header, content = meta.num_frames_from_header, meta.num_frames_from_content
        problem = None
        if self._length == 0:
            problem = ("not_video", "no frames")
        elif header and content is not None and content < header:
            problem = ("truncated", f"header says {header} frames, found {content}")
        if problem is not None:
            del self._decoder  # the half-built reader never reaches a with block
            raise DecodeError(self.path, *problem)
        self._fps = float(meta.average_fps or 0.0)

    def _read(self, indices: list[int]) -> np.ndarray:
        try:
            batch = self._decoder.get_frames_at(indices).data
        except (RuntimeError, IndexError) as error:
            detail = str(error)
            error.__traceback__ = None  # see DecordReader._read: release the file now
            raise DecodeError(self.path, "short_decode", detail) from None
        return batch.numpy()

    def _close(self) -> None:
        del self._decoder


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


def run_bounded(fn: Callable[[], T], timeout_s: float | None, path: str | Path) -> T:
    """Run ``fn`` with a wall-clock bound; raise ``DecodeError(path, "timeout")`` past it.

    The call runs in a daemon thread; on timeout that thread is abandoned (a native decoder
    stuck in C code cannot be interrupted), the sample is reported and the worker goes on.
    ``timeout_s=None`` runs ``fn`` inline.
    """
    if timeout_s is None:
        return fn()
    if timeout_s <= 0:
        raise ValueError(f"timeout_s must be positive or None, got {timeout_s}")
    result: list[T] = []
    failure: list[BaseException] = []

    def target() -> None:
        try:
            result.append(fn())
        except BaseException as error:  # handed to the caller below, never swallowed
            failure.append(error)

    worker = threading.Thread(target=target, name=f"decode:{Path(path).name}", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        raise DecodeError(path, "timeout", f"no result after {timeout_s:g} s")
    if failure:
        raise failure[0]
    return result[0]


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
