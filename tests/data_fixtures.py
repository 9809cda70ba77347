"""Helpers shared by the data tests: small generated videos, images and broken files."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vjepa.data.encode import write_video


def numbered_frames(num_frames: int, height: int = 48, width: int = 64) -> list[np.ndarray]:
    """Frames whose top-left 16x16 block has brightness 8*i mod 256 (so frame ``i`` can be
    recognised after lossy coding) and a moving gradient elsewhere (so codecs see motion)."""
    ys, xs = np.mgrid[0:height, 0:width]
    frames = []
    for i in range(num_frames):
        frame = np.empty((height, width, 3), dtype=np.uint8)
        frame[..., 0] = (xs * 4 + i * 3) % 256
        frame[..., 1] = (ys * 5 + i * 7) % 256
        frame[..., 2] = ((xs + ys) * 2) % 256
        frame[:16, :16, :] = (8 * i) % 256
        frames.append(frame)
    return frames


def frame_number(frame: np.ndarray) -> int:
    """Recover ``i`` from a frame made by ``numbered_frames`` (valid for i < 32)."""
    return int(round(float(frame[4:12, 4:12].mean()) / 8.0))


def make_video(path: Path, num_frames: int, height: int = 48, width: int = 64, gop: int = 8,
               fps: int = 25) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_video(path, numbered_frames(num_frames, height, width), fps=fps, gop=gop, crf=10)
    return path


def make_broken_files(folder: Path, good: Path) -> dict[str, Path]:
    """One file per broken kind, keyed by the reason the loaders must report."""
    folder.mkdir(parents=True, exist_ok=True)
    data = good.read_bytes()
    files = {
        "missing": folder / "missing.mp4",
        "empty": folder / "empty.mp4",
        "unreadable": folder / "directory.mp4",
        "not_video": folder / "text.mp4",
        "truncated": folder / "truncated.mp4",
        "short_decode": folder / "corrupt.mp4",
    }
    files["empty"].write_bytes(b"")
    files["unreadable"].mkdir(exist_ok=True)
    files["not_video"].write_text("this is not a video\n" * 20)
    files["truncated"].write_bytes(data[: len(data) // 2])
    corrupt = bytearray(data)  # header intact, packets zeroed: fewer frames decode
    start = len(data) // 2
    corrupt[start : start + len(data) // 4] = bytes(len(data) // 4)
    files["short_decode"].write_bytes(bytes(corrupt))
    return files
