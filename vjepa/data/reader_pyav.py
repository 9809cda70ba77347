"""The PyAV reader (the default backend): frame-exact random access with seeks and
non-reference skipping.

Contract: frame ``i`` is the ``i``-th frame of a plain sequential decode of the whole stream
(in presentation order), so any sequence of ``get_batch`` calls returns bit-identical frames
to that decode. How it keeps the contract:

* The index (``vjepa.data.packet_index``) is built at open from the packet table, without
  decoding: the packets a sequential decode outputs, sorted by presentation timestamp.
  Decoded frames are matched to it by their timestamp, never by count, so B-frame
  reordering, B-pyramids, variable frame rate and non-zero start times are exact.
* A seek goes to the last keyframe at or before the wanted frame and is checked: the first
  packet must be that keyframe (else the reader falls back to the start of the stream).
  After a seek to keyframe ``K``, frames before ``K`` (open-GOP leading pictures, which
  reference the GOP before ``K``) are ignored.
* Packets of frames nobody asked for are sent with ``skip_frame=NONREF``: the decoder drops
  them when no other frame refers to them (most B-frames), which cannot change any other
  frame. The reader remembers which frames it sent that way since the last seek, and a later
  call that wants one of them seeks again instead of waiting for a frame that will never come
  (the decoder's reorder delay means packets past the last wanted frame are already sent).
* A wanted frame that still does not come out (a keyframe that is no real random-access
  point, corrupt data) is retried once from the start of the stream; only then is it a
  ``short_decode`` error.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from vjepa.data.packet_index import index_packets
from vjepa.data.reader_base import DecodeError, VideoReader, _gather


class PyAVReader(VideoReader):
    """PyAV reader, exact for any sequence of ``get_batch`` calls (see the module notes)."""

    def __init__(self, path: str | Path, num_threads: int = 1) -> None:
        super().__init__(path)
        import av

        try:
            self._container = av.open(str(self.path), mode="r")
        except (av.error.FFmpegError, UnicodeDecodeError) as error:
            raise DecodeError(self.path, "not_video", str(error)) from error
        try:
            self._open_stream(num_threads)
        except BaseException:
            self._container.close()
            raise
        self.skip_unwanted = True  # skip non-reference frames nobody asked for
        self._frames: Iterator[tuple[int, object]] | None = None  # live decode after a seek
        self._seek_key = 0  # index of the keyframe the live decode started from
        self._position = -1  # highest index the live decode has output
        self._skipped: set[int] = set()  # frames sent with NONREF since the last seek
        self._wanted: set[int] = set()  # frames of the current get_batch call

    def _open_stream(self, num_threads: int) -> None:
        if not self._container.streams.video:
            raise DecodeError(self.path, "not_video", "no video stream")
        stream = self._container.streams.video[0]
        if num_threads != 1:
            stream.thread_type = "AUTO"
        stream.codec_context.thread_count = num_threads
        index = index_packets(self._container, stream, self.path)
        self._pts, self._is_key = index.pts, index.is_key
        self._pts_to_index = {int(p): i for i, p in enumerate(self._pts)}
        rate = stream.average_rate or stream.guessed_rate
        self._fps = float(rate) if rate else float(len(self._pts))
        self._length = len(self._pts)
        self.packets_not_output = index.num_packets - self._length
        self._stream = stream

    def _seek(self, target: int, from_start: bool = False) -> None:
        """Restart decoding at the last keyframe at or before ``target`` (the first one with
        ``from_start``), checking that the demuxer really lands there."""
        keys = np.flatnonzero(self._is_key[: (1 if from_start else target + 1)])
        key = int(keys[-1]) if len(keys) else 0
        self._container.seek(int(self._pts[key]), stream=self._stream, backward=True)
        packets = self._container.demux(self._stream)
        first = next((p for p in packets if p.size > 0), None)
        landed = self._pts_to_index.get(first.pts) if first is not None else None
        if landed is None or landed > target or not self._is_key[landed]:
            if from_start:
                raise DecodeError(self.path, "short_decode",
                                  f"seeking to frame {key} landed on no indexed keyframe")
            self._seek(target, from_start=True)
            return
        self._frames = self._decode(itertools.chain([first], packets))
        self._seek_key, self._position, self._skipped = landed, -1, set()

    def _decode(self, packets: Iterator[object]) -> Iterator[tuple[int, object]]:
        """(index, frame) from ``packets`` on, frames before the seek keyframe left out."""
        context = self._stream.codec_context
        for packet in packets:
            index = self._pts_to_index.get(packet.pts) if packet.pts is not None else None
            skip = self.skip_unwanted and index is not None and index not in self._wanted
            context.skip_frame = "NONREF" if skip else "DEFAULT"
            if skip:
                self._skipped.add(index)
            for frame in packet.decode():
                position = self._pts_to_index.get(frame.pts, -1)
                if position >= self._seek_key:
                    yield position, frame

    def _can_continue(self, target: int) -> bool:
        """Whether the live decode will still output ``target`` and no keyframe closer to it
        lies ahead (seeking forward over a keyframe saves decoding)."""
        if self._frames is None or target <= self._position or target in self._skipped:
            return False
        return not self._is_key[self._position + 1 : target + 1].any()

    def _decode_until(self, target: int, frames: dict[int, np.ndarray]) -> None:
        """Run the live decode until ``target`` is out, keeping every wanted frame."""
        for index, frame in self._frames:
            self._position = max(self._position, index)
            if index in self._wanted and index not in frames:
                frames[index] = frame.to_ndarray(format="rgb24")
            if target in frames:
                return
        self._frames = None  # end of stream

    def _read(self, indices: list[int]) -> np.ndarray:
        import av

        wanted = sorted(set(indices))
        self._wanted = set(wanted)
        frames: dict[int, np.ndarray] = {}
        try:
            for target in wanted:
                if target in frames:
                    continue
                if not self._can_continue(target):
                    self._seek(target)
                self._decode_until(target, frames)
                if target not in frames and self._seek_key > 0:  # retry once from the start
                    self._seek(target, from_start=True)
                    self._decode_until(target, frames)
        except av.error.FFmpegError as error:
            self._frames = None
            raise DecodeError(self.path, "short_decode", str(error)) from error
        return _gather(frames, indices, self.path)

    def _close(self) -> None:
        self._frames = None
        self._container.close()

