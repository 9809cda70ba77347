"""Synthetic data: determinism, idempotence, labels that only motion can tell."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import vjepa.data.synthetic as synthetic
from vjepa.data.decoders import open_video
from vjepa.data.synthetic import (
    MARKER,
    direction_names,
    make_synthetic_images,
    make_synthetic_videos,
    render_count_image,
    render_motion_clip,
)

REPO = Path(__file__).resolve().parents[1]


def _object_centre(frame: np.ndarray) -> np.ndarray:
    """Circular-mean centre (x, y) of saturated pixels (the moving shape)."""
    ys, xs = np.nonzero(((frame < 45) | (frame > 210)).any(axis=2))
    size = frame.shape[0]
    centre = []
    for coord in (xs, ys):
        angle = np.angle(np.exp(2j * math.pi * coord / size).mean())
        centre.append(angle * size / (2 * math.pi))
    return np.array(centre)


@pytest.mark.parametrize("direction", range(8))
def test_clip_moves_in_its_direction_over_a_changing_background(direction: int) -> None:
    frames = render_motion_clip(np.random.default_rng(direction), direction, 8, 6, 64)
    step = _object_centre(frames[3]) - _object_centre(frames[2])
    step = (step + 32) % 64 - 32
    angle = math.atan2(step[1], step[0])
    expected = 2 * math.pi * direction / 8
    assert abs((angle - expected + math.pi) % (2 * math.pi) - math.pi) < 0.35, (step, direction)
    for t in range(5):  # the background changes every frame (away from the shape)
        a, b = frames[t].astype(int), frames[t + 1].astype(int)
        calm = ~(((a < 45) | (a > 210)).any(2) | ((b < 45) | (b > 210)).any(2))
        assert np.abs(a - b)[calm].mean() > 0.2, t


def test_the_background_of_one_frame_does_not_predict_the_next() -> None:
    """Set version 3 draws the background anew every frame (version 2 cross-faded between
    fields, consecutive backgrounds correlated at about 0.98): only the shape carries over in
    time."""
    corr = []
    for seed in range(4):
        frames = np.stack(render_motion_clip(np.random.default_rng(seed), seed, 8, 9, 32))
        sat = ((frames < 45) | (frames > 210)).any(axis=3)
        for t in range(8):
            calm = ~(sat[t] | sat[t + 1])
            for c in range(3):
                a, b = frames[t][..., c][calm], frames[t + 1][..., c][calm]
                corr.append(np.corrcoef(a.astype(float), b.astype(float))[0, 1])
    assert abs(float(np.mean(corr))) < 0.15, np.mean(corr)  # 96 pairs, each spread ~0.25


def test_video_set_is_deterministic_balanced_and_reused(tmp_path: Path) -> None:
    a = make_synthetic_videos(tmp_path / "a", num_videos=8, num_classes=4, num_frames=6, seed=3)
    make_synthetic_videos(tmp_path / "b", num_videos=8, num_classes=4, num_frames=6, seed=3,
                          num_workers=2)
    make_synthetic_videos(tmp_path / "c", num_videos=8, num_classes=4, num_frames=6, seed=4)
    rows = [line.split() for line in a.read_text().splitlines()]
    assert [int(label) for _, label in rows] == [0, 1, 2, 3, 0, 1, 2, 3]
    assert json.loads((tmp_path / "a" / "classes.json").read_text()) == {
        name: i for i, name in enumerate(direction_names(4))
    }
    first = Path(rows[0][0])
    assert first.read_bytes() == (tmp_path / "b" / first.relative_to(tmp_path / "a")).read_bytes()
    assert first.read_bytes() != (tmp_path / "c" / first.relative_to(tmp_path / "a")).read_bytes()
    with open_video(first) as reader:
        assert len(reader) == 6 and reader.get_batch([0]).shape == (1, 64, 64, 3)
    stamp = first.stat().st_mtime_ns
    assert make_synthetic_videos(tmp_path / "a", num_videos=8, num_classes=4, num_frames=6,
                                 seed=3) == a
    assert first.stat().st_mtime_ns == stamp  # complete set reused, nothing rewritten


def test_interrupted_set_is_rebuilt_and_mismatch_raises(tmp_path: Path) -> None:
    index = make_synthetic_videos(tmp_path, num_videos=2, num_classes=2, num_frames=4)
    first = Path(index.read_text().split()[0])
    good = first.read_bytes()
    (tmp_path / MARKER).unlink()
    first.write_bytes(good[:100])  # a half-written file from an interrupted run
    make_synthetic_videos(tmp_path, num_videos=2, num_classes=2, num_frames=4)
    assert first.read_bytes() == good
    with pytest.raises(ValueError, match="num_videos"):
        make_synthetic_videos(tmp_path, num_videos=3, num_classes=2, num_frames=4)


def test_a_failed_build_leaves_no_set_and_no_staging(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A generator that dies midway (here: the 2nd file fails) publishes nothing: the next
    run cannot mistake half-written files for a set."""
    from vjepa.data import synthetic

    calls = []

    def dying(job: tuple) -> None:
        calls.append(job)
        if len(calls) == 2:
            raise OSError("killed")
        real(job)

    real = synthetic._video_job
    monkeypatch.setattr(synthetic, "_video_job", dying)
    with pytest.raises(OSError, match="killed"):
        make_synthetic_videos(tmp_path / "set", num_videos=4, num_classes=2, num_frames=4)
    assert list(tmp_path.iterdir()) == []


def test_two_builders_of_one_set_never_mix_files(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Two processes share a cache (two runs, or the ranks of a job): the other one publishes
    the set while this one is encoding, then this one is killed in the middle of a file. The
    published set is whole; the killed builder's half-written file is not in it."""
    from vjepa.data import synthetic

    root, kw = tmp_path / "set", dict(num_videos=4, num_classes=2, num_frames=4)
    real_run = synthetic._run

    def racing(fn, jobs, num_workers, progress):  # noqa: ANN001, ANN202
        real_run(fn, jobs[:1], num_workers, progress)  # ours is a quarter done when ...
        monkeypatch.setattr(synthetic, "_run", real_run)
        make_synthetic_videos(root, **kw)  # ... the other builder publishes the set
        Path(jobs[1][0]).write_bytes(b"\x00\x00\x00\x18ftypisom")  # and ours dies mid-file
        raise OSError("killed")

    monkeypatch.setattr(synthetic, "_run", racing)
    with pytest.raises(OSError, match="killed"):
        make_synthetic_videos(root, **kw)
    index = make_synthetic_videos(root, **kw)  # the published set, reused
    for line in index.read_text().splitlines():
        with open_video(line.split()[0]) as reader:
            assert len(reader) == 4
    assert sorted(p.name for p in tmp_path.iterdir()) == ["set"]  # no staging left over


def _shape_pixels(frames: list[np.ndarray]) -> int:
    return int(sum(((f < 45) | (f > 210)).any(axis=2).sum() for f in frames))


def test_clips_of_up_to_two_shapes_hold_one_or_two_moving_in_the_direction() -> None:
    """``max_shapes=2`` draws one or two shapes per clip, all moving the clip's way; the
    first shape and everything drawn before it are those of the one-shape clip."""
    counts = []
    for seed in range(16):
        one = render_motion_clip(np.random.default_rng(seed), 2, 8, 4, 32)
        two = render_motion_clip(np.random.default_rng(seed), 2, 8, 4, 32, max_shapes=2)
        counts.append(_shape_pixels(two) / max(1, _shape_pixels(one)))
    assert min(counts) < 1.2 and max(counts) > 1.5, counts  # some clips one shape, some two
    frames = render_motion_clip(np.random.default_rng(5), 0, 8, 3, 64, max_shapes=2)
    for t in range(2):  # direction 0 (right): whatever moves, moves right
        a, b = (((f < 45) | (f > 210)).any(axis=2) for f in frames[t:t + 2])
        shifts = [np.logical_and(a, np.roll(b, -d, axis=1)).sum() for d in range(-4, 5)]
        assert int(np.argmax(shifts)) - 4 > 0, shifts


@pytest.mark.parametrize("option, root_key, value, default", [
    ("max_shapes", "shapes", 2, 1), ("background_cells", "background_cells", 32, 4)])
def test_set_options_are_marked_checked_and_cached_apart(
        tmp_path: Path, option: str, root_key: str, value: int, default: int) -> None:
    """A non-default generator option is written to the marker (a set made without it is
    refused, naming it), 0 is refused, and the set has its own cache folder; the default
    leaves the marker and folder of the sets made before the option."""
    from vjepa.train.data import synthetic_root

    kw = dict(num_videos=2, num_classes=2, num_frames=4, size=32)
    make_synthetic_videos(tmp_path / "on", **{option: value}, **kw)
    assert json.loads((tmp_path / "on" / MARKER).read_text())[option] == value
    with pytest.raises(ValueError, match=option):
        make_synthetic_videos(tmp_path / "on", **kw)
    make_synthetic_videos(tmp_path / "off", **kw)
    assert option not in json.loads((tmp_path / "off" / MARKER).read_text())
    with pytest.raises(ValueError, match=f"{option} must be >= 1, got 0"):
        make_synthetic_videos(tmp_path / "zero", **{option: 0}, **kw)
    plain = synthetic_root("/c", "video", 8, 32, 16)
    assert synthetic_root("/c", "video", 8, 32, 16, **{root_key: default}) == plain
    assert synthetic_root("/c", "video", 8, 32, 16, **{root_key: value}) != plain


def test_video_arguments_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="3"):
        make_synthetic_videos(tmp_path, num_classes=3)
    with pytest.raises(ValueError, match="15"):
        make_synthetic_videos(tmp_path, size=15)


def test_image_set_has_class_and_count_labels(tmp_path: Path) -> None:
    index = make_synthetic_images(tmp_path, num_images=12, num_classes=3, max_count=2, size=32)
    rows = [line.split() for line in index.read_text().splitlines()]
    counts = [line.split() for line in (tmp_path / "index_count.csv").read_text().splitlines()]
    assert [r[0] for r in rows] == [c[0] for c in counts]
    assert [int(r[1]) for r in rows] == [i % 3 for i in range(12)]
    assert [int(c[1]) for c in counts] == [(i // 3) % 2 for i in range(12)]
    image = np.asarray(Image.open(rows[0][0]))
    assert image.shape == (32, 32, 3) and image.dtype == np.uint8
    with pytest.raises(ValueError, match="max_count"):
        make_synthetic_images(tmp_path / "x", max_count=9)


@pytest.mark.parametrize(("size", "grid"), [(32, 2), (64, 2), (32, 3), (96, 3)])
def test_count_images_put_each_shape_whole_in_its_own_cell(monkeypatch, size, grid) -> None:
    drawn: list[tuple[float, float, float]] = []
    real = synthetic.shape_mask

    def spy(kind: str, dx: np.ndarray, dy: np.ndarray, radius: float) -> np.ndarray:
        drawn.append((float(-dx[0, 0]), float(-dy[0, 0]), radius))  # the centre, in pixels
        return real(kind, dx, dy, radius)

    monkeypatch.setattr(synthetic, "shape_mask", spy)
    cell = size / grid
    for i in range(40):
        drawn.clear()
        count = 1 + i % (grid * grid)
        render_count_image(np.random.default_rng(i), "circle", count, size, grid)
        assert len(drawn) == count
        cells = {(int(cx // cell), int(cy // cell)) for cx, cy, _ in drawn}
        assert len(cells) == count  # one shape per cell: no two overlap
        for cx, cy, r in drawn:
            x0, y0 = (cx // cell) * cell, (cy // cell) * cell
            assert x0 + r < cx < x0 + cell - r and y0 + r < cy < y0 + cell - r
            assert synthetic.SHAPE_RADIUS[0] <= r / cell <= synthetic.SHAPE_RADIUS[1]
    with pytest.raises(ValueError, match="count must be in"):
        render_count_image(np.random.default_rng(0), "circle", grid * grid + 1, size, grid)


def test_make_synthetic_cli(tmp_path: Path) -> None:
    script = REPO / "data_prep" / "make_synthetic.py"
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}
    help_text = subprocess.run([sys.executable, str(script), "--help"], env=env, check=True,
                               capture_output=True, text=True).stdout
    assert "videos" in help_text and "--seed" in help_text
    out = subprocess.run(
        [sys.executable, str(script), "images", str(tmp_path), "--num", "4", "--size", "32",
         "--workers", "1"],
        env=env, check=True, capture_output=True, text=True,
    ).stdout
    assert Path(out.strip()) == tmp_path / "index.csv"
    assert len((tmp_path / "index.csv").read_text().splitlines()) == 4
    subprocess.run([sys.executable, str(script), "videos", str(tmp_path / "v"), "--num", "2",
                    "--classes", "2", "--frames", "4", "--size", "32", "--workers", "1",
                    "--max-shapes", "2"], env=env, check=True, capture_output=True)
    assert json.loads((tmp_path / "v" / MARKER).read_text())["max_shapes"] == 2


def _lstsq_accuracy(train: np.ndarray, y_train: np.ndarray, test: np.ndarray,
                    y_test: np.ndarray, classes: int) -> float:
    """Least-squares linear classifier (one-hot targets, standardised features + bias)."""
    mu, sd = train.mean(0), train.std(0) + 1e-6
    a = np.c_[(train - mu) / sd, np.ones(len(train))]
    b = np.c_[(test - mu) / sd, np.ones(len(test))]
    w = np.linalg.lstsq(a, np.eye(classes)[y_train], rcond=None)[0]
    return float(((b @ w).argmax(1) == y_test).mean())


def test_no_clip_global_statistic_gives_the_direction_away() -> None:
    """Per-frame mean colours and the clip's colour histogram (what every token of any encoder,
    a random one included, carries) read the direction at chance; the same probe reads a
    label-dependent tint at once (so the check has the power to fail)."""
    n, classes = 320, 8
    stats, labels = [], np.arange(n) % classes
    for i in range(n):
        frames = np.stack(render_motion_clip(np.random.default_rng([5, i]), int(labels[i]),
                                             classes, 8, 32)).astype(np.float32)
        means = frames.mean(axis=(1, 2)).ravel()  # [T * 3]
        hist = np.concatenate([np.histogram(frames[..., c], 8, (0, 256))[0] for c in range(3)])
        stats.append(np.r_[means, hist / hist.sum()])
    x = np.stack(stats)
    acc = _lstsq_accuracy(x[:256], labels[:256], x[256:], labels[256:], classes)
    assert acc < 0.3, acc  # chance 0.125; 64 test clips
    leaky = x.copy()  # a per-class tint of one colour statistic
    leaky[np.arange(n), labels] += 3.0 * x.std(0)[labels]
    assert _lstsq_accuracy(leaky[:256], labels[:256], leaky[256:], labels[256:], classes) > 0.9


def _neighbour_correlation(frames: list[np.ndarray]) -> float:
    """Correlation of horizontally adjacent pixels (red channel) over the frames."""
    x = np.stack(frames)[..., 0].astype(np.float64)
    return float(np.corrcoef(x[:, :, :-1].ravel(), x[:, :, 1:].ravel())[0, 1])


def test_per_pixel_background_is_independent_noise_with_the_same_shapes() -> None:
    """``background_cells=size`` redraws each background pixel on its own (no smooth field
    for a masked tube to interpolate); the shapes' motion is the same as on set v3's
    background (the shape draws come first from the same generator)."""
    smooth = render_motion_clip(np.random.default_rng(3), 0, 8, 4, 32)
    noise = render_motion_clip(np.random.default_rng(3), 0, 8, 4, 32, background_cells=32)
    assert _neighbour_correlation(smooth) > 0.8
    assert _neighbour_correlation(noise) < 0.4
    for a, b in zip(smooth, noise, strict=True):  # the shape pixels (saturated) are the same
        assert ((a == b).all(axis=2) | ~((a < 45) | (a > 210)).any(axis=2)).mean() > 0.99
