"""Writing videos with PyAV (synthetic data, re-encoding, test files)."""

from __future__ import annotations

from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path

import numpy as np

CODECS: dict[str, str] = {".mp4": "libx264", ".mkv": "libx264", ".webm": "libvpx-vp9"}


def write_video(
    path: str | Path,
    frames: Iterable[np.ndarray],
    fps: int | Fraction = 25,
    gop: int = 32,
    crf: int = 23,
    preset: str = "veryfast",
    codec: str | None = None,
    threads: int = 1,
) -> int:
    """Encode RGB uint8 frames [H, W, 3] into ``path``; return the number of frames written.

    Args:
        fps: constant frame rate (a ``Fraction`` keeps rates such as 30000/1001 exact).
        gop: maximum keyframe interval (bounded so random clip access stays fast).
        crf: constant rate factor (quality; lower is better).
        preset: x264 speed preset (ignored by other codecs).
        threads: encoder threads; 1 (default) makes the output bytes deterministic.
        codec: FFmpeg encoder name; by default chosen from the suffix (``CODECS``).

    H.264 and VP9 in yuv420p need even width and height; MP4 files get ``+faststart``
    (index first) so truncation is detectable from the header.
    """
    path = Path(path)
    if codec is None:
        if path.suffix not in CODECS:
            known = sorted(CODECS)
            raise ValueError(f"no default codec for suffix {path.suffix!r}; known: {known}")
        codec = CODECS[path.suffix]
    if fps <= 0 or gop <= 0:
        raise ValueError(f"fps and gop must be positive, got fps={fps}, gop={gop}")
    import av
    from av.video.reformatter import VideoReformatter

    reformatter = VideoReformatter()  # one swscale context for all frames (much faster)
    options = {"fflags": "+bitexact"}  # no random ids or dates in the container
    if path.suffix == ".mp4":
        options["movflags"] = "+faststart"
    count = 0
    with av.open(str(path), mode="w", options=options) as container:
        stream = None
        for frame in frames:
            if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
                raise ValueError(f"frames must be uint8 [H, W, 3], got {frame.dtype} {frame.shape}")
            if stream is None:
                stream = _add_stream(container, codec, frame.shape, fps, gop, crf, preset, threads)
            rgb = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            # Convert to packed yuv420p planes ourselves: frames converted inside the encoder
            # carry uninitialised row padding that x264 reads, so the bytes would vary run to run.
            planes = reformatter.reformat(rgb, format="yuv420p").to_ndarray()
            video_frame = av.VideoFrame.from_ndarray(planes, format="yuv420p")
            video_frame.pts = count  # explicit timestamps: output bytes depend on inputs only
            video_frame.time_base = 1 / Fraction(fps)
            container.mux(stream.encode(video_frame))
            count += 1
        if stream is None:
            raise ValueError(f"no frames given for {path}")
        container.mux(stream.encode(None))
    return count


def _add_stream(container, codec: str, shape: tuple[int, ...], fps: int | Fraction, gop: int,
                crf: int, preset: str, threads: int):  # noqa: ANN001, ANN202 - PyAV is untyped
    height, width = shape[:2]
    if height % 2 or width % 2:
        raise ValueError(f"frame size must be even for yuv420p, got {width}x{height}")
    stream = container.add_stream(codec, rate=fps)
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    stream.codec_context.gop_size = gop
    stream.codec_context.time_base = 1 / Fraction(fps)
    stream.codec_context.thread_count = threads
    options = {"crf": str(crf)}
    if codec == "libx264":
        options.update(preset=preset, keyint_min=str(min(gop, 25)), threads=str(threads))
    if codec.startswith("libvpx"):
        options.update({"b:v": "0", "deadline": "realtime", "cpu-used": "8"})
    stream.options = options
    return stream
