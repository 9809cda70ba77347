"""Datasets: frames match clip indices, reproducibility, broken files, DataLoader workers."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from data_fixtures import frame_number, make_broken_files, make_video
from PIL import Image

from vjepa.data import decoders
from vjepa.data.bad_samples import BadSampleTracker, TooManyBadSamples
from vjepa.data.builder import build_dataset
from vjepa.data.collate import collate_samples
from vjepa.data.datasets import ImageDataset, VideoDataset, sample_generator
from vjepa.data.index import mix_sources, read_index_file, scan_folder


def identity(frames: np.ndarray, generator: torch.Generator) -> torch.Tensor:
    """Untransformed clip as [1, C, T, H, W] so tests can read the frame numbers back."""
    return torch.from_numpy(frames).permute(3, 0, 1, 2).unsqueeze(0)


def numbers(video: torch.Tensor) -> list[int]:
    return [frame_number(video[:, t].permute(1, 2, 0).numpy()) for t in range(video.shape[1])]


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("tree")
    good = [make_video(root / "videos" / f"class{k % 2}" / f"v{k}.mp4", 24 + k) for k in range(4)]
    short = make_video(root / "videos" / "class0" / "short.mp4", 5)
    broken = make_broken_files(root / "broken", good[0])
    rows = []
    for k, path in enumerate(broken.values()):  # good, broken, good, broken, ...
        rows.append((good[k % 4], k % 2))
        rows.append((path, 0))
    rows.append((good[3], 1))
    rows.append((short, 0))
    index = root / "mixed.csv"
    index.write_text("".join(f"{p} {label}\n" for p, label in rows))
    clean = root / "clean.csv"
    clean.write_text("".join(f"{p} {k % 2}\n" for k, p in enumerate(good)))
    return {"root": root, "good": good, "short": short, "broken": broken, "index": index,
            "clean": clean, "rows": rows}


@pytest.mark.parametrize("backend", ["pyav", "decord"])
def test_frames_match_clip_indices(tree: dict, backend: str) -> None:
    dataset = VideoDataset([tree["clean"]], identity, frames_per_clip=4, frame_step=2,
                           num_clips=2, backend=backend)
    for i in range(len(dataset)):
        item = dataset[i]
        assert item["video"].shape == (2, 3, 4, 48, 64) and item["bad"] == []
        assert item["clip_indices"].shape == (2, 4) and item["index"] == i
        for clip, indices in zip(item["video"], item["clip_indices"], strict=True):
            assert numbers(clip) == indices.tolist()


def test_items_are_reproducible_per_seed_epoch_index(tree: dict) -> None:
    def make(seed: int) -> VideoDataset:
        return build_dataset("video", [tree["clean"]], crop_size=16, frames_per_clip=4,
                             frame_step=1, seed=seed)

    a, b = make(0), make(0)
    assert torch.equal(a[2]["video"], b[2]["video"])
    assert torch.equal(a[2]["clip_indices"], b[2]["clip_indices"])
    starts = set()
    for epoch in range(6):
        a.set_epoch(epoch)
        starts.add(int(a[2]["clip_indices"][0, 0]))
    assert len(starts) > 1  # a new epoch draws new clips
    assert not torch.equal(make(1)[2]["video"], b[2]["video"])
    assert sample_generator(0, 1, 2).initial_seed() != sample_generator(0, 2, 1).initial_seed()


def test_broken_files_are_replaced_by_next_neighbour_and_reported(tree: dict) -> None:
    dataset = VideoDataset([tree["index"]], identity, frames_per_clip=4, frame_step=2,
                           short_policy="filter", timeout_s=10.0)
    for k, (reason, path) in enumerate(tree["broken"].items()):
        item = dataset[2 * k + 1]
        assert item["bad"] == [(str(path), reason)], reason
        assert item["index"] == 2 * k + 2  # the next good sample, always the same
        assert item["label"] == tree["rows"][2 * k + 2][1]
    last = dataset[len(dataset) - 1]  # the short video wraps around to the first sample
    assert last["bad"] == [(str(tree["short"]), "too_short")] and last["index"] == 0


def test_every_neighbour_broken_raises_with_the_events(tmp_path: Path, tree: dict) -> None:
    index = tmp_path / "all_broken.csv"
    index.write_text("".join(f"{p} 0\n" for p in tree["broken"].values()))
    dataset = VideoDataset([index], identity, max_retries=2)
    with pytest.raises(decoders.DecodeError, match="next neighbours all failed"):
        dataset[0]


def test_dataloader_two_workers_counts_every_broken_kind(tree: dict, tmp_path: Path) -> None:
    dataset = build_dataset("video", [tree["index"]], crop_size=16, frames_per_clip=4,
                            frame_step=2, short_policy="filter")
    loader = torch.utils.data.DataLoader(dataset, batch_size=3, num_workers=2,
                                         collate_fn=collate_samples)
    tracker = BadSampleTracker(max_fraction=0.9, min_attempts=0)
    videos = []
    for batch in loader:
        assert batch["video"].shape[1:] == (1, 3, 4, 16, 16)
        tracker.update(batch["bad"], len(batch["label"]))
        videos.append(batch["video"])
    expected = {reason: 1 for reason in tree["broken"]} | {"too_short": 1}
    assert dict(tracker.counts) == expected
    assert tracker.samples == len(dataset)
    # workers change nothing: the same items as a single-process pass
    single = torch.cat([collate_samples([dataset[i] for i in range(k, min(k + 3, len(dataset)))])
                        ["video"] for k in range(0, len(dataset), 3)])
    assert torch.equal(torch.cat(videos), single)
    report = json.loads(tracker.report(tmp_path).read_text())
    assert report["counts"] == dict(sorted(expected.items()))
    assert {f["path"] for f in report["files"]} == {str(p) for p in tree["broken"].values()} | {
        str(tree["short"])}
    assert "too_short=1" in tracker.summary()


def test_tracker_stops_above_max_fraction_naming_worst_files() -> None:
    tracker = BadSampleTracker(max_fraction=0.2, min_attempts=10)
    tracker.update([("a.mp4", "empty")], 4)  # below min_attempts: no stop yet
    tracker.update([("b.mp4", "too_short")] * 5, 4)  # filter reasons do not count
    assert tracker.fraction == pytest.approx(1 / 9)
    with pytest.raises(TooManyBadSamples, match="c.mp4 \\(not_video\\)"):
        tracker.update([("c.mp4", "not_video"), ("c.mp4", "not_video"), ("a.mp4", "empty")], 1)
    restored = BadSampleTracker()
    restored.load_state_dict(tracker.state_dict())
    assert restored.counts == tracker.counts and restored.samples == tracker.samples
    with pytest.raises(ValueError, match="1.5"):
        BadSampleTracker(max_fraction=1.5)


def test_decode_timeout_is_counted_and_skipped(tree: dict, monkeypatch: pytest.MonkeyPatch
                                               ) -> None:
    release = threading.Event()
    slow = str(tree["good"][0])
    real_open = decoders.open_video

    def open_or_hang(path: str | Path, backend: str = "pyav", num_threads: int = 1):
        if str(path) == slow:
            release.wait(30)
        return real_open(path, backend, num_threads)

    monkeypatch.setattr(decoders, "open_video", open_or_hang)
    dataset = VideoDataset([tree["clean"]], identity, frames_per_clip=4, timeout_s=0.3)
    try:
        item = dataset[0]
    finally:
        release.set()
    assert item["bad"] == [(slow, "timeout")] and item["index"] == 1


def test_short_video_pad_and_loop(tree: dict) -> None:
    index = tree["root"] / "short.csv"
    index.write_text(f"{tree['short']} 0\n")
    for policy, expected in (("pad", [0, 2, 4, 4, 4, 4]), ("loop", [0, 2, 4, 2, 4, 1])):
        dataset = VideoDataset([index], identity, frames_per_clip=6, frame_step=2,
                               short_policy=policy)
        item = dataset[0]
        assert item["clip_indices"][0].tolist() == expected and item["bad"] == []
        assert numbers(item["video"][0]) == expected


def test_eval_dataset_views_and_clips(tree: dict) -> None:
    dataset = build_dataset("video", [tree["clean"]], training=False, crop_size=32,
                            resize_size=40, num_views=3, num_clips=2, frames_per_clip=4,
                            frame_step=2, backend="decord")
    item = dataset[1]
    assert item["video"].shape == (6, 3, 4, 32, 32) and item["video"].dtype == torch.float32
    assert item["clip_indices"][:, 0].tolist() == [0, 12]  # 25 frames, segments of 12


def test_image_dataset_folder_and_broken_images(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for k in range(4):
        folder = tmp_path / "images" / ("cat" if k < 2 else "dog")
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (30, 40, 3), dtype=np.uint8)).save(folder / f"{k}.png")
    data = (tmp_path / "images" / "cat" / "0.png").read_bytes()
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "text.png").write_text("not an image")
    (broken / "empty.png").write_bytes(b"")
    (broken / "cut.png").write_bytes(data[: len(data) // 2])
    samples, classes = scan_folder(tmp_path / "images", (".png",))
    assert classes == ["cat", "dog"] and [s.label for s in samples] == [0, 0, 1, 1]
    index = tmp_path / "index.txt"
    lines = [f"{p} 0\n" for p in sorted(broken.iterdir())] + [f"{samples[0].path} 0\n"]
    index.write_text("".join(lines))
    dataset = ImageDataset([index], build_dataset("image", [tmp_path / "images"],
                                                  crop_size=16).transform)
    item = dataset[0]
    assert item["video"].shape == (1, 3, 1, 16, 16) and item["index"] == 3
    assert [reason for _, reason in item["bad"]] == ["truncated", "empty", "not_image"]
    folder_set = build_dataset("image", [tmp_path / "images"], training=False, crop_size=16)
    assert folder_set[3]["label"] == 1 and folder_set[3]["clip_indices"].shape == (1, 1)


def test_index_files_and_weights(tmp_path: Path) -> None:
    (tmp_path / "sub dir").mkdir()
    first = tmp_path / "a.csv"
    first.write_text("sub dir/x y.mp4 3\n\n/abs/z.mp4 1\n")
    second = tmp_path / "b.csv"
    second.write_text("/abs/w.mp4 0\n")
    samples = read_index_file(first)
    assert samples[0].path == str(tmp_path / "sub dir" / "x y.mp4") and samples[0].label == 3
    assert samples[1].path == "/abs/z.mp4"
    mixed, weights = mix_sources([first, second], [1.0, 3.0], (".mp4",))
    assert len(mixed) == 3 and weights == [0.5, 0.5, 3.0]
    (tmp_path / "bad.csv").write_text("/abs/x.mp4 zero\n")
    with pytest.raises(ValueError, match="bad.csv:1"):
        read_index_file(tmp_path / "bad.csv")
    with pytest.raises(ValueError, match="weight"):
        mix_sources([first], [1.0, 2.0], (".mp4",))


def test_builder_rejects_inconsistent_arguments(tree: dict) -> None:
    with pytest.raises(ValueError, match="frames_per_clip"):
        build_dataset("image", [tree["clean"]], frames_per_clip=8)
    with pytest.raises(ValueError, match="num_views=3"):
        build_dataset("video", [tree["clean"]], num_views=3)
    with pytest.raises(ValueError, match="audio"):
        build_dataset("audio", [tree["clean"]])
    with pytest.raises(ValueError, match="exactly one"):
        build_dataset("video", [tree["clean"]], fps=5.0)
    with pytest.raises(ValueError, match="keep"):
        build_dataset("video", [tree["clean"]], short_policy="keep")


def test_collate_keeps_extra_keys_and_checks_items() -> None:
    item = {"video": torch.zeros(1, 3, 2, 4, 4), "label": 1, "index": 0,
            "clip_indices": torch.zeros(1, 2, dtype=torch.long), "bad": [("a.mp4", "empty")]}
    batch = collate_samples([item | {"step": 7}, item | {"step": 7, "bad": []}])
    assert batch["video"].shape == (2, 1, 3, 2, 4, 4) and batch["step"].tolist() == [7, 7]
    assert batch["bad"] == [("a.mp4", "empty")] and batch["label"].tolist() == [1, 1]
    with pytest.raises(ValueError, match="step"):
        collate_samples([item | {"step": 7}, item])
    with pytest.raises(ValueError, match="empty"):
        collate_samples([])
