"""Small generated videos that look like real ones to a decoder: x264 with B-frames and
B-pyramids, open and long GOPs, variable frame rate, an AAC audio stream, odd sizes, a stream
that does not start at zero, and a stream-copy cut that starts in the middle of a GOP.

The bundled synthetic data is encoded with ``ultrafast`` (no B-frames), so these are the files
that exercise frame reordering, seeking and non-reference skipping in the readers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Spec:
    """One generated file: size, length and the x264 settings that make it realistic."""

    name: str
    width: int
    height: int
    num_frames: int = 40
    x264: str = "bframes=3:b-adapt=0:b-pyramid=normal:keyint=12:min-keyint=12:scenecut=0"
    vfr: bool = False  # irregular frame durations (timestamps in milliseconds)
    audio: bool = False  # an AAC stream muxed in
    start_pts: int = 0  # first presentation timestamp (in the stream's time base)
    suffix: str = ".mp4"
    extra: dict[str, str] = field(default_factory=dict)


SPECS: tuple[Spec, ...] = (
    Spec("bpyramid_qcif", 176, 144, audio=True),  # 176x144 with audio, closed GOPs of 12
    Spec("open_gop", 160, 68, x264="bframes=3:b-adapt=0:b-pyramid=normal:keyint=10:"
         "min-keyint=10:scenecut=0:open-gop=1"),  # 640x272 scaled down by 4
    Spec("long_gop_vfr", 90, 58, num_frames=48, vfr=True,  # not a multiple of 16
         x264="bframes=3:b-adapt=0:b-pyramid=normal:keyint=250:scenecut=0"),
    Spec("issue_640x272", 160, 68, num_frames=136,  # GOP layout of the failing read
         x264="bframes=2:b-adapt=0:b-pyramid=normal:keyint=22:min-keyint=22:scenecut=0"),
    Spec("offset_mkv", 96, 64, suffix=".mkv", start_pts=7,
         x264="bframes=2:b-adapt=0:b-pyramid=strict:keyint=9:min-keyint=9:scenecut=0"),
)


def _frames(spec: Spec) -> list[np.ndarray]:
    """Textured frames with global and local motion (so x264 really uses B-frames)."""
    rng = np.random.default_rng(len(spec.name))
    n = spec.num_frames
    texture = rng.integers(0, 256, (spec.height + n, spec.width + 2 * n, 3), dtype=np.uint8)
    ys, xs = np.mgrid[0 : spec.height, 0 : spec.width]
    frames = []
    for i in range(n):
        dy, dx = i, 2 * i  # smooth motion, no scene cut
        frame = texture[dy : dy + spec.height, dx : dx + spec.width].copy()
        blob = (ys - spec.height / 2) ** 2 + (xs - (5 * i) % spec.width) ** 2 < 12**2
        frame[blob] = (40 * i % 256, 255 - 6 * i % 256, 128)
        frames.append(frame)
    return frames


def _timestamps(spec: Spec) -> tuple[list[int], Fraction]:
    if not spec.vfr:
        return [spec.start_pts + i for i in range(spec.num_frames)], Fraction(1, 25)
    rng = np.random.default_rng(1)
    durations = rng.choice([20, 33, 40, 67, 100], size=spec.num_frames)
    pts = np.concatenate([[0], np.cumsum(durations)[:-1]]) + spec.start_pts
    return [int(p) for p in pts], Fraction(1, 1000)


def write_realistic(path: Path, spec: Spec) -> Path:
    """Encode ``spec`` into ``path`` (suffix from the spec) and return the path."""
    import av

    path = path.with_suffix(spec.suffix)
    path.parent.mkdir(parents=True, exist_ok=True)
    pts, time_base = _timestamps(spec)
    with av.open(str(path), mode="w") as container:
        video = container.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = spec.width, spec.height, "yuv420p"
        video.codec_context.time_base = time_base
        video.options = {"x264-params": spec.x264, "crf": "28", "preset": "medium",
                         "threads": "1", **spec.extra}
        audio = container.add_stream("aac", rate=16000) if spec.audio else None
        audio_samples = 0
        for frame, stamp in zip(_frames(spec), pts, strict=True):
            image = av.VideoFrame.from_ndarray(frame, format="rgb24").reformat(format="yuv420p")
            image.pts, image.time_base = stamp, time_base
            container.mux(video.encode(image))
            while audio is not None and audio_samples < (stamp + 1) * time_base * 16000:
                audio_samples += _mux_audio(container, audio, audio_samples)
        container.mux(video.encode(None))
        if audio is not None:
            container.mux(audio.encode(None))
    return path


def _mux_audio(container, stream, start: int) -> int:  # noqa: ANN001 - PyAV is untyped
    import av

    samples = 1024
    t = (start + np.arange(samples)) / 16000
    wave = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
    frame = av.AudioFrame.from_ndarray(wave, format="fltp", layout="mono")
    frame.sample_rate, frame.pts, frame.time_base = 16000, start, Fraction(1, 16000)
    container.mux(stream.encode(frame))
    return samples


def write_cut(source: Path, path: Path, first_packet: int) -> Path:
    """Stream-copy ``source``'s video from its ``first_packet``-th packet in decode order, as a
    cut with ``-c copy`` would: the file starts inside a GOP, with frames that reference
    pictures it no longer holds (a decoder drops or conceals them)."""
    import av

    with av.open(str(source)) as src, av.open(str(path), mode="w") as dst:
        in_stream = src.streams.video[0]
        out_stream = dst.add_stream_from_template(in_stream)
        for k, packet in enumerate(src.demux(in_stream)):
            if packet.dts is None or k < first_packet:
                continue
            packet.stream = out_stream
            dst.mux(packet)
    return path


def sequential_decode(path: Path) -> list[np.ndarray]:
    """The reference: every frame of a plain sequential PyAV decode, in output order."""
    import av

    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def frame_types(path: Path) -> str:
    """Picture types in presentation order (e.g. ``IBBBP...``), to check a file is what it
    claims to be."""
    import av

    with av.open(str(path)) as container:
        return "".join(" IPBSiPb"[int(f.pict_type)] for f in container.decode(video=0))
