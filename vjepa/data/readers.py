"""The backends: PyAV (default), decord (the official loader's) and torchcodec (optional)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from vjepa.data.reader_base import DecodeError, VideoReader, _gather


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

