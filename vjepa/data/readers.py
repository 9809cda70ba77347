"""The backends: PyAV (default), decord (the official loader's) and torchcodec (optional)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from vjepa.data.packet_index import read_packet_index
from vjepa.data.reader_base import DecodeError, VideoReader
from vjepa.data.reader_pyav import PyAVReader

__all__ = ["DecordReader", "PyAVReader", "TorchCodecReader"]

_log = logging.getLogger(__name__)


class DecordReader(VideoReader):
    """decord reader (the official V-JEPA loader's decoder), CPU context.

    decord counts frames and places keyframes by packet position in decode order, which is
    the presentation order only for closed GOPs: in an open-GOP file (a keyframe's leading
    B-frames come after it in decode order) its seeks land one or more frames off, and in a
    file cut inside a GOP it counts frames no decoder outputs. So the reader checks decord's
    frame count and keyframes against the packet index (``vjepa.data.packet_index``, the
    frames of a sequential decode) and, where they differ, reads such a file in order from
    its start with ``next()`` (exact, slower) instead of seeking.
    """

    def __init__(self, path: str | Path, num_threads: int = 1) -> None:
        super().__init__(path)
        import decord

        try:
            self._reader = decord.VideoReader(str(self.path), num_threads=num_threads)
        except decord.DECORDError as error:
            raise DecodeError(self.path, "truncated", str(error)) from error
        except RuntimeError as error:
            raise DecodeError(self.path, "not_video", str(error)) from error
        if len(self._reader) == 0:
            del self._reader
            raise DecodeError(self.path, "not_video", "no frames")
        try:
            index = read_packet_index(self.path)
        except DecodeError:
            del self._reader
            raise
        self._length = len(index.pts)
        self.packets_not_output = index.num_packets - self._length
        self._fps = float(self._reader.get_avg_fps())
        self.in_order = (len(self._reader) != self._length
                         or list(self._reader.get_key_indices()) != index.key_indices)
        if self.in_order:
            _log.info("%s: decord's frame table disagrees with the packet index (%d vs %d "
                      "frames or open GOPs); reading it in order", self.path,
                      len(self._reader), self._length)
        self._next = 0  # in-order reading: index of the frame next() returns

    def _read(self, indices: list[int]) -> np.ndarray:
        import decord

        try:
            batch = self._read_in_order(indices) if self.in_order else \
                self._reader.get_batch(indices).asnumpy()
        except (decord.DECORDError, RuntimeError, StopIteration) as error:
            # decord's traceback frames hold its reader (and the open file) in a reference
            # cycle that only the garbage collector would free: cut it so close() releases now.
            detail = str(error) or type(error).__name__
            error.__traceback__ = None
            raise DecodeError(self.path, "short_decode", detail) from None
        if batch.shape[0] != len(indices):
            raise DecodeError(
                self.path, "short_decode", f"asked {len(indices)} frames, got {batch.shape[0]}"
            )
        return batch

    def _read_in_order(self, indices: list[int]) -> np.ndarray:
        wanted = set(indices)
        if self._next > min(wanted):
            self._reader.seek(0)
            self._next = 0
        frames: dict[int, np.ndarray] = {}
        while self._next <= max(wanted):
            frame = self._reader.next()
            if self._next in wanted:
                frames[self._next] = frame.asnumpy()
            self._next += 1
        return np.stack([frames[i] for i in indices])

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

