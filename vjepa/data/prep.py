"""Building blocks of the ``data_prep/`` scripts: resumable parallel jobs and per-file work.

:func:`run_resumable` maps a function over files in worker processes, appends one JSON line
per finished file to a log as results arrive, and on a rerun skips the files already in the
log, so an interrupted scan or re-encode of a large collection picks up where it stopped.
"""

from __future__ import annotations

import itertools
import json
import multiprocessing
from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np
from tqdm import tqdm

from vjepa.checkpoints.io import atomic_write
from vjepa.data.decoders import DEFAULT_BACKEND, DecodeError, check_file, open_video, run_bounded
from vjepa.data.encode import write_video


def read_log(log_path: Path) -> dict[str, dict]:
    """Results already in a JSON-lines log, keyed by ``path``. A torn last line (a crash
    while writing) is dropped; a broken line elsewhere raises ``ValueError``."""
    if not log_path.exists():
        return {}
    lines = log_path.read_text().splitlines()
    done = {}
    for number, line in enumerate(lines, start=1):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines):
                break
            raise ValueError(f"{log_path}:{number} is not a JSON line: {line[:80]!r}") from None
        done[record["path"]] = record
    return done


def run_resumable(
    fn: Callable[[str], dict],
    paths: Sequence[str],
    log_path: Path,
    workers: int,
    desc: str,
) -> dict[str, dict]:
    """Run ``fn(path) -> dict`` (a picklable top-level function; the dict gets ``path``) on
    every path not yet in ``log_path``, in ``workers`` processes, with a progress bar.

    Returns:
        All results, old and new, keyed by path.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    done = read_log(log_path)
    if log_path.exists() and not log_path.read_text().endswith("\n") and done:
        log_path.write_text("".join(json.dumps(r) + "\n" for r in done.values()))  # drop torn
    todo = list(dict.fromkeys(p for p in paths if p not in done))
    with open(log_path, "a") as log, tqdm(total=len(todo), desc=desc, unit="file") as bar:
        if workers == 1:
            results = map(_tagged, [(fn, p) for p in todo])
            for record in results:
                _append(log, done, record, bar)
        else:
            with multiprocessing.get_context().Pool(workers) as pool:
                jobs = [(fn, p) for p in todo]
                for record in pool.imap_unordered(_tagged, jobs, chunksize=4):
                    _append(log, done, record, bar)
    return done


def _tagged(job: tuple[Callable[[str], dict], str]) -> dict:
    fn, path = job
    return {"path": path, **fn(path)}


def _append(log, done: dict[str, dict], record: dict, bar: tqdm) -> None:  # noqa: ANN001
    log.write(json.dumps(record) + "\n")
    log.flush()
    done[record["path"]] = record
    bar.update()


def probe_video(path: str, backend: str = DEFAULT_BACKEND, num_frames: int = 16,
                full: bool = False, timeout_s: float = 60.0) -> dict:
    """Decode-test one video. Returns ``{"ok", "reason", "detail", "num_frames", "fps",
    "width", "height"}``; ``full`` decodes every frame, otherwise ``num_frames`` spread over
    the video, always including the last one (where truncation shows)."""

    def work() -> dict:
        with open_video(path, backend=backend) as reader:
            n = len(reader)
            if full:
                indices = list(range(n))
            else:
                indices = sorted(set(np.linspace(0, n - 1, min(num_frames, n)).astype(int)))
            shape = (0, 0)
            for start in range(0, len(indices), 64):
                shape = reader.get_batch(indices[start : start + 64]).shape[1:3]
            return {"num_frames": n, "fps": reader.fps, "height": int(shape[0]),
                    "width": int(shape[1])}

    try:
        info = run_bounded(work, timeout_s, path)
    except DecodeError as error:
        return {"ok": False, "reason": error.reason, "detail": error.detail}
    return {"ok": True, "reason": "", "detail": "", **info}


def scaled_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    """(width, height) with the short side at ``short_side`` (never upscaled), both even."""
    if short_side < 2:
        raise ValueError(f"short_side must be >= 2, got {short_side}")
    scale = min(1.0, short_side / min(width, height))
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


def reencode_video(src: str, dst: str, short_side: int = 256, gop: int = 16, crf: int = 23,
                   preset: str = "veryfast") -> dict:
    """Re-encode ``src`` to H.264 ``dst`` with the short side at ``short_side`` and a
    keyframe at least every ``gop`` frames (fast random clip access). Audio is dropped.
    Writes ``dst`` through a temporary name, so an existing ``dst`` is always complete.

    Returns:
        ``{"ok": True, "frames", "width", "height"}`` or ``{"ok": False, "reason", "detail"}``.
    """
    import av
    from av.video.reformatter import VideoReformatter

    if short_side < 2 or gop < 1:
        raise ValueError(f"short_side must be >= 2 and gop >= 1, got {short_side}, {gop}")
    try:
        check_file(src)
        with atomic_write(dst) as tmp, av.open(src) as container:  # tmp keeps dst's suffix
            if not container.streams.video:
                raise DecodeError(src, "not_video", "no video stream")
            stream = container.streams.video[0]
            width, height = scaled_size(stream.width, stream.height, short_side)
            rate = stream.average_rate or stream.guessed_rate or Fraction(25)
            scaler = VideoReformatter()  # one swscale context for the whole file
            frames = (scaler.reformat(f, width=width, height=height, format="rgb24",
                                      interpolation="AREA").to_ndarray()
                      for f in container.decode(stream))
            first = next(frames, None)
            if first is None:
                raise DecodeError(src, "short_decode", "no frame decodes")
            count = write_video(tmp, itertools.chain([first], frames), fps=Fraction(rate),
                                gop=gop, crf=crf, preset=preset)
    except DecodeError as error:
        return {"ok": False, "reason": error.reason, "detail": error.detail}
    except av.error.FFmpegError as error:
        return {"ok": False, "reason": "not_video", "detail": str(error)}
    return {"ok": True, "frames": count, "width": width, "height": height}
