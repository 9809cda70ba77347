"""Procedural data sets for tests, demos and the default run (deterministic by seed).

Videos (:func:`make_synthetic_videos`): a textured shape (or up to ``max_shapes`` of them)
drifts across the frame in one of ``num_classes`` directions; the label is the direction.
Position, shape, colour and speed are random per clip and the background is a new random
field in every frame, so neither a single frame nor a clip-global statistic (a static
background) gives the label away: only motion does. The shapes are also the only thing that
carries over from frame to frame, so a masked tube is predictable across time only through
them (set version 2 cross-faded between fields over 8 frames: a background that predictable
is most of what the masked tubes hold, benchmarks/RESULTS.md).
Encoded as H.264 MP4 with PyAV.

Images (:func:`make_synthetic_images`): 1 to ``max_count`` copies of one shape kind on a
random texture, each in its own cell of a grid (2 x 2 for up to 4 objects) and spanning a
quarter to two fifths of its cell's side in radius; class label = shape kind, second label =
object count (for the counting probe, the I-JEPA paper's low-level evaluation). Written as
PNG. (Set version 1 drew shapes of 7-10 % of the image side in radius, about 2-8 % of its
area in all: a linear probe on pooled tokens read neither label even from a pretrained
encoder, benchmarks/RESULTS.md.)

Both write ``root/index.csv`` (``path label`` per line, space-separated, no header, absolute
paths, the official V-JEPA format), ``root/classes.json`` (``{name: label}``) and, last,
``root/.complete`` holding the generation parameters: a set with a matching marker is
reused as is, a set without one (interrupted) is rebuilt, a set made with other parameters
raises ``ValueError`` instead of being silently mixed.

A set is built in a staging folder beside ``root`` and renamed into place when complete, so
``root`` never holds a half-written file: a generator killed midway leaves no set, and two
processes sharing one cache (two runs, or every rank of a job) each build their own copy and
the first to finish publishes it (the other's copy is dropped).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import uuid
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from vjepa.data.encode import write_video

DIRECTIONS: tuple[str, ...] = (
    "right", "down-right", "down", "down-left", "left", "up-left", "up", "up-right"
)
SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "cross", "diamond")
MARKER = ".complete"
# Bump when the generator changes what it writes: cached sets of older versions live in
# other folders (see vjepa.train.data.synthetic_root) and are never mistaken for current ones.
VIDEO_SET_VERSION = 3  # 3: background redrawn every frame (2 cross-faded over 8 frames)
IMAGE_SET_VERSION = 2  # 2: larger shapes, one per grid cell (v1's covered 2-8 % of the image)
BACKGROUND_CELLS = 4  # default background noise grid of the videos (set v3's smooth fields)
SHAPE_RADIUS = (0.25, 0.4)  # image shapes: radius range as a fraction of a grid cell's side
INDEX = "index.csv"
CLASSES = "classes.json"
COUNT_INDEX = "index_count.csv"


def direction_names(num_classes: int) -> list[str]:
    """Direction classes: 2 (left/right), 4 (axis) or 8 (axis and diagonals)."""
    if num_classes not in (2, 4, 8):
        raise ValueError(f"num_classes for motion directions must be 2, 4 or 8, got {num_classes}")
    return [DIRECTIONS[k] for k in range(0, 8, 8 // num_classes)]


def shape_mask(kind: str, dx: np.ndarray, dy: np.ndarray, radius: float) -> np.ndarray:
    """Boolean mask of a shape centred at offset (0, 0); ``dx``/``dy`` are pixel offsets."""
    ax, ay = np.abs(dx), np.abs(dy)
    if kind == "circle":
        return dx * dx + dy * dy <= radius * radius
    if kind == "square":
        return (ax <= radius * 0.85) & (ay <= radius * 0.85)
    if kind == "diamond":
        return ax + ay <= radius
    if kind == "cross":
        bar = radius / 3.0
        return ((ax <= bar) & (ay <= radius)) | ((ay <= bar) & (ax <= radius))
    if kind == "triangle":
        return (dy <= radius * 0.8) & (dy >= -radius) & (ax <= (dy + radius) * 0.55)
    raise ValueError(f"unknown shape {kind!r}; known: {SHAPES}")


def smooth_noise(rng: np.random.Generator, height: int, width: int, cells: int,
                 low: int, high: int) -> np.ndarray:
    """Low-frequency colour noise, uint8 [H, W, 3] (bilinear upsampling of a coarse grid)."""
    coarse = rng.integers(low, high, size=(cells, cells, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(coarse).resize((width, height), Image.BILINEAR))


def _draw_shape(rng: np.random.Generator, velocity_unit: np.ndarray, height: int,
                width: int) -> tuple[str, np.ndarray, np.ndarray, float, np.ndarray]:
    """One moving shape: kind, start (x, y), velocity (x, y), radius, colour."""
    speed = rng.uniform(1.5, 3.0) * height / 64
    velocity = velocity_unit * speed
    start = rng.uniform(0, 1, 2) * (width, height)
    kind = SHAPES[rng.integers(len(SHAPES))]
    radius = rng.uniform(0.12, 0.2) * height
    colour = rng.integers(0, 256, 3)
    colour[rng.integers(3)] = rng.choice([20, 235])  # saturated, stands out of the mid-grey noise
    return kind, start, velocity, radius, colour


def render_motion_clip(rng: np.random.Generator, direction: int, num_directions: int,
                       num_frames: int, size: int, width: int | None = None,
                       max_shapes: int = 1,
                       background_cells: int = BACKGROUND_CELLS) -> list[np.ndarray]:
    """Frames [size, width, 3] of 1 to ``max_shapes`` shapes moving in ``direction`` (of
    ``num_directions`` on the circle), each at its own speed, wrapping around the borders, over
    a background redrawn every frame: colour noise on a ``background_cells`` square grid,
    bilinearly upsampled (4: smooth fields, predictable inside a frame from any visible part;
    ``size``: independent noise per pixel, predictable from nothing). With ``max_shapes=1``
    no count is drawn and with ``background_cells=4`` the clips of set version 3 are
    unchanged."""
    height, width = size, width or size
    angle = 2 * math.pi * direction / num_directions
    unit = np.array([math.cos(angle), math.sin(angle)])  # (x, y), y down
    shapes = [_draw_shape(rng, unit, height, width)]
    if max_shapes > 1:
        count = int(rng.integers(1, max_shapes + 1))
        shapes += [_draw_shape(rng, unit, height, width) for _ in range(count - 1)]
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    # A new background field every frame: no static per-clip background to learn instead of
    # the motion, and nothing but the shapes that one frame predicts in the next.
    frames = []
    for t in range(num_frames):
        # .copy(): the array PIL hands back is read-only
        frame = smooth_noise(rng, height, width, background_cells, 60, 190).copy()
        for kind, start, velocity, radius, colour in shapes:
            cx, cy = start + velocity * t
            dx = (xs - cx + width / 2) % width - width / 2  # toroidal offsets: shapes wrap
            dy = (ys - cy + height / 2) % height - height / 2
            frame[shape_mask(kind, dx, dy, radius)] = colour
        frames.append(frame)
    return frames


def _check_marker(root: Path, params: dict) -> bool:
    marker = root / MARKER
    if not marker.exists():
        return False
    found = json.loads(marker.read_text())
    if found != params:
        diff = {k: (found.get(k), params.get(k)) for k in {**found, **params}
                if found.get(k) != params.get(k)}
        raise ValueError(
            f"{root} holds a synthetic set made with other parameters (found, asked): {diff}; "
            "use another folder or delete this one"
        )
    return (root / INDEX).exists()


def _finish(stage: Path, params: dict, lines: list[str], names: list[str]) -> None:
    (stage / CLASSES).write_text(json.dumps({n: i for i, n in enumerate(names)}, indent=1))
    (stage / INDEX).write_text("".join(lines))
    (stage / MARKER).write_text(json.dumps(params))  # last: marks the set complete


@contextmanager
def _staged(root: Path, params: dict) -> Iterator[Path]:
    """A fresh staging folder beside ``root``, renamed to ``root`` when the body completes
    (removed if it fails). If another process published ``root`` meanwhile, its set is kept
    (its marker must match ``params``); a ``root`` left incomplete by an older version of this
    generator, which wrote in place, is replaced."""
    stage = root.with_name(f".{root.name}.staging-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    stage.mkdir(parents=True)
    try:
        yield stage
        try:
            os.rename(stage, root)
        except OSError:  # root exists (POSIX: ENOTEMPTY / EEXIST)
            if not _check_marker(root, params):
                old = root.with_name(f".{root.name}.incomplete-{uuid.uuid4().hex[:8]}")
                os.rename(root, old)
                os.rename(stage, root)
                shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _video_job(job: tuple) -> None:
    path, seed, i, label, num_classes, *render = job
    num_frames, size, width, fps, gop, preset, shapes, cells = render
    rng = np.random.default_rng([seed, i])
    frames = render_motion_clip(rng, label * (8 // num_classes), 8, num_frames, size, width,
                                shapes, cells)
    write_video(path, frames, fps=fps, gop=gop, crf=20, preset=preset)


def _check_video_set(num_videos: int, num_frames: int, num_workers: int, size: int,
                     width: int, fps: int, gop: int, max_shapes: int,
                     background_cells: int) -> None:
    counts = {"num_videos": num_videos, "num_frames": num_frames, "num_workers": num_workers,
              "max_shapes": max_shapes, "background_cells": background_cells}
    for name, value in counts.items():
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    if min(size, width) < 16 or size % 2 or width % 2:
        raise ValueError(f"size and width must be even numbers >= 16, got {size}, {width}")
    if fps < 1 or gop < 1:
        raise ValueError(f"fps and gop must be >= 1, got {fps}, {gop}")


def _video_jobs(stage: Path, root: Path, names: list[str], num_videos: int, seed: int,
                render: tuple) -> tuple[list[tuple], list[str]]:
    """The jobs of :func:`_video_job` (``render``: its arguments after the class count) and
    the index lines; clip ``i`` is class ``i % len(names)``, its folder made in ``stage``."""
    jobs, lines = [], []
    for i in range(num_videos):
        label = i % len(names)
        rel = Path("videos") / names[label] / f"{i:06d}.mp4"
        (stage / rel).parent.mkdir(parents=True, exist_ok=True)
        jobs.append((stage / rel, seed, i, label, len(names), *render))
        lines.append(f"{root / rel} {label}\n")
    return jobs, lines


def _option_params(max_shapes: int, background_cells: int) -> dict[str, int]:
    """The marker entries of the options set away from their defaults: absent at the
    defaults, so the markers of the sets made before the options still match."""
    options = {"max_shapes": (max_shapes, 1), "background_cells": (background_cells,
                                                                   BACKGROUND_CELLS)}
    return {key: value for key, (value, default) in options.items() if value != default}


def make_synthetic_videos(
    root: str | Path,
    num_videos: int = 256,
    num_classes: int = 8,
    num_frames: int = 32,
    size: int = 64,
    seed: int = 0,
    num_workers: int = 1,
    progress: bool = False,
    width: int | None = None,
    fps: int = 25,
    gop: int | None = None,
    preset: str = "ultrafast",
    max_shapes: int = 1,
    background_cells: int = BACKGROUND_CELLS,
) -> Path:
    """Build (or reuse) the motion-direction video set under ``root``.

    Args:
        root: output folder (created); videos go to ``root/videos/<class>/NNNNNN.mp4``.
        num_videos: number of clips; labels are balanced (clip ``i`` has ``i % num_classes``).
        num_classes: 2, 4 or 8 motion directions.
        num_frames: frames per clip (25 fps).
        size: frame height (and width unless ``width`` is given) in pixels, even.
        seed: clip ``i`` is drawn from ``numpy.random.default_rng([seed, i])``.
        num_workers: processes used to render and encode.
        progress: show a progress bar.
        width: frame width (even); default ``size``.
        fps: frame rate of the files.
        gop: keyframe interval; default ``num_frames`` (one keyframe per clip).
        preset: x264 preset. ``ultrafast`` (default) gives byte-identical files on every run;
            presets with sub-pixel motion search are not byte-reproducible on small frames
            such as 64x64 (x264 then reads uninitialised padding), only up to tiny pixel
            differences. The loader benchmark uses ``veryfast`` on 320x240 for realism.
        max_shapes: each clip holds 1 to ``max_shapes`` shapes (uniform), all moving in the
            clip's direction at their own speeds.
        background_cells: side of the noise grid each frame's background is upsampled from
            (4, the default: set version 3's smooth fields; ``size``: noise per pixel).

    Returns:
        The index file ``root/index.csv``.
    """
    width = size if width is None else width
    gop = num_frames if gop is None else gop
    _check_video_set(num_videos, num_frames, num_workers, size, width, fps, gop, max_shapes,
                     background_cells)
    names = direction_names(num_classes)
    root = Path(root).resolve()
    params = {"kind": "videos", "num_videos": num_videos, "num_classes": num_classes,
              "num_frames": num_frames, "size": size, "width": width, "fps": fps, "gop": gop,
              "preset": preset, "seed": seed, "version": VIDEO_SET_VERSION}
    params |= _option_params(max_shapes, background_cells)
    if _check_marker(root, params):
        return root / INDEX
    with _staged(root, params) as stage:
        jobs, lines = _video_jobs(stage, root, names, num_videos, seed,
                                  (num_frames, size, width, fps, gop, preset, max_shapes,
                                   background_cells))
        _run(_video_job, jobs, num_workers, progress)
        _finish(stage, params, lines, names)
    return root / INDEX


def _run(fn, jobs: list, num_workers: int, progress: bool) -> None:  # noqa: ANN001
    bar = tqdm(total=len(jobs), disable=not progress, unit="file")
    if num_workers == 1:
        for job in jobs:
            fn(job)
            bar.update()
    else:
        with ProcessPoolExecutor(num_workers) as pool:
            for _ in pool.map(fn, jobs, chunksize=max(1, len(jobs) // (16 * num_workers))):
                bar.update()
    bar.close()


def render_count_image(rng: np.random.Generator, kind: str, count: int, size: int,
                       grid: int = 2) -> np.ndarray:
    """``count`` shapes of one ``kind`` on a random texture, uint8 [H, W, 3].

    Each shape sits in its own cell of a ``grid`` x ``grid`` layout (cells drawn without
    replacement, the centre uniform inside the cell): shapes never overlap and placement never
    needs retrying. All shapes of an image share one radius, a fraction ``SHAPE_RADIUS`` of the
    cell side, so a shape spans two to three 8-pixel patches on a 64-pixel image.
    """
    if not 1 <= count <= grid * grid:
        raise ValueError(f"count must be in [1, {grid * grid}] for a {grid}x{grid} grid, "
                         f"got {count}")
    texture = rng.integers(3)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    if texture == 0:
        image = smooth_noise(rng, size, size, 6, 40, 215).copy()
    else:
        period = rng.uniform(4, 12)
        phase = (xs if texture == 1 else xs + ys) / period
        stripes = (np.sin(phase * 2 * math.pi) > 0)[..., None]
        a, b = rng.integers(40, 215, 3), rng.integers(40, 215, 3)
        image = np.where(stripes, a, b).astype(np.uint8)
    cell = size / grid
    radius = cell * rng.uniform(*SHAPE_RADIUS)
    for k in rng.choice(grid * grid, size=count, replace=False):
        row, col = divmod(int(k), grid)
        cx, cy = (np.array([col, row]) * cell + rng.uniform(radius + 1, cell - radius - 1, 2))
        colour = rng.integers(0, 256, 3)
        colour[rng.integers(3)] = rng.choice([10, 245])
        image[shape_mask(kind, xs - cx, ys - cy, radius)] = colour
    return image


def _image_job(job: tuple[Path, int, int, str, int, int, int]) -> None:
    path, seed, i, kind, count, size, grid = job
    rng = np.random.default_rng([seed, i])
    Image.fromarray(render_count_image(rng, kind, count, size, grid)).save(path)


def make_synthetic_images(
    root: str | Path,
    num_images: int = 500,
    num_classes: int = 5,
    max_count: int = 4,
    size: int = 64,
    seed: int = 0,
    num_workers: int = 1,
    progress: bool = False,
) -> Path:
    """Build (or reuse) the shapes-and-counts image set under ``root``.

    Args:
        num_images: images; class ``i % num_classes``, count ``1 + (i // num_classes) % max_count``.
        num_classes: shape kinds used (1 to ``len(SHAPES)``).
        max_count: largest number of objects in one image (1 to 6).
        size: image height and width (>= 32).

    Returns:
        ``root/index.csv`` (shape labels). ``root/index_count.csv`` lists the same images in
        the same order with the count label ``count - 1``; ``classes.json`` and
        ``classes_count.json`` map names to labels.
    """
    if not 1 <= num_classes <= len(SHAPES):
        raise ValueError(f"num_classes must be in [1, {len(SHAPES)}], got {num_classes}")
    if not 1 <= max_count <= 6 or size < 32 or num_images < 1 or num_workers < 1:
        raise ValueError(
            f"need 1 <= max_count <= 6, size >= 32, num_images >= 1, num_workers >= 1; got "
            f"max_count={max_count}, size={size}, num_images={num_images}, "
            f"num_workers={num_workers}"
        )
    root = Path(root).resolve()
    params = {"kind": "images", "num_images": num_images, "num_classes": num_classes,
              "max_count": max_count, "size": size, "seed": seed,
              "version": IMAGE_SET_VERSION}
    if _check_marker(root, params):
        return root / INDEX
    names = list(SHAPES[:num_classes])
    grid = math.ceil(math.sqrt(max_count))  # one cell per shape of the most crowded image
    with _staged(root, params) as stage:
        jobs, lines, count_lines = [], [], []
        for i in range(num_images):
            label, count = i % num_classes, 1 + (i // num_classes) % max_count
            rel = Path("images") / names[label] / f"{i:06d}.png"
            (stage / rel).parent.mkdir(parents=True, exist_ok=True)
            jobs.append((stage / rel, seed, i, names[label], count, size, grid))
            lines.append(f"{root / rel} {label}\n")
            count_lines.append(f"{root / rel} {count - 1}\n")
        _run(_image_job, jobs, num_workers, progress)
        (stage / COUNT_INDEX).write_text("".join(count_lines))
        counts = {str(c): c - 1 for c in range(1, max_count + 1)}
        (stage / "classes_count.json").write_text(json.dumps(counts, indent=1))
        _finish(stage, params, lines, names)
    return root / INDEX
