"""The frame index of a video from its packet table (demuxing only, no decoding).

Frame ``i`` is the ``i``-th frame a plain sequential decode of the whole video stream outputs
(presentation order). The index lists, sorted by presentation timestamp, the packets whose
frames such a decode outputs, so it is built without decoding: packets that are empty or
discard-flagged (edit lists) are left out, and so are the packets before the first keyframe in
decode order and that keyframe's leading pictures (a stream-copy cut that starts inside a
GOP), which a decoder drops because they reference pictures the file does not hold.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vjepa.data.reader_base import DecodeError

REMUX_HINT = "remux it (ffmpeg -fflags +genpts -i IN -c copy OUT)"


@dataclass(frozen=True)
class PacketIndex:
    pts: np.ndarray  # int64 [N], presentation timestamps of frames 0..N-1 (stream time base)
    is_key: np.ndarray  # bool [N], frame i is a keyframe (a point to seek to)
    num_packets: int  # non-empty packets in the stream, decodable or not

    @property
    def key_indices(self) -> list[int]:
        return np.flatnonzero(self.is_key).tolist()


def index_packets(container, stream, path: str | Path) -> PacketIndex:  # noqa: ANN001 - PyAV
    """Demux ``stream`` of an open PyAV ``container`` (left at its end) into a PacketIndex.

    Raises:
        DecodeError: ``truncated`` (demuxing fails, or the header promises more frames than
            there are packets) or ``not_video`` (no packets, no keyframe, packets without or
            with shared timestamps: frames could not be indexed exactly).
    """
    import av

    entries: list[tuple[int | None, bool, bool]] = []  # (pts, keyframe, discard), decode order
    try:
        for packet in container.demux(stream):
            if packet.size > 0:
                entries.append((packet.pts, bool(packet.is_keyframe), bool(packet.is_discard)))
    except av.error.FFmpegError as error:
        raise DecodeError(path, "truncated", str(error)) from error
    if not entries:
        raise DecodeError(path, "not_video", "video stream holds no packets")
    if stream.frames and stream.frames > len(entries):
        raise DecodeError(path, "truncated",
                          f"header says {stream.frames} frames, found {len(entries)} packets")
    missing = sum(pts is None for pts, _, _ in entries)
    if missing:
        raise DecodeError(path, "not_video", f"{missing} of {len(entries)} video packets carry "
                          f"no timestamp, so frames cannot be indexed exactly; {REMUX_HINT}")
    kept = _decodable(entries)
    if not kept:
        raise DecodeError(path, "not_video", "no keyframe, so no frame can be decoded")
    pts = np.asarray([p for p, _ in kept], dtype=np.int64)
    order = np.argsort(pts, kind="stable")
    if len(np.unique(pts)) != len(pts):
        raise DecodeError(path, "not_video", "video packets share timestamps, so frames cannot "
                          f"be indexed exactly; {REMUX_HINT}")
    is_key = np.asarray([k for _, k in kept], dtype=bool)[order]
    return PacketIndex(pts[order], is_key, len(entries))


def read_packet_index(path: str | Path) -> PacketIndex:
    """Open ``path`` with PyAV, index its first video stream and close it."""
    import av

    try:
        container = av.open(str(path), mode="r")
    except (av.error.FFmpegError, UnicodeDecodeError) as error:
        raise DecodeError(path, "not_video", str(error)) from error
    with container:
        if not container.streams.video:
            raise DecodeError(path, "not_video", "no video stream")
        return index_packets(container, container.streams.video[0], path)


def _decodable(entries: list[tuple[int | None, bool, bool]]) -> list[tuple[int, bool]]:
    """(pts, keyframe) of the packets, in decode order, whose frames a sequential decode
    outputs: not discard-flagged, from the first keyframe on, without that keyframe's leading
    pictures (earlier timestamps, references before the start)."""
    first = next((k for k, (_, key, discard) in enumerate(entries) if key and not discard), None)
    if first is None:
        return []
    start = entries[first][0]
    return [(pts, key) for pts, key, discard in entries[first:]
            if not discard and pts is not None and pts >= start]
