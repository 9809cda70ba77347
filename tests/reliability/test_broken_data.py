"""Guarantee 5: broken data in a real run. A training index mixing good videos with every
breakage (missing, zero bytes, a folder, text renamed .mp4, truncated, scrambled packets,
shorter than a clip, no read permission, a decode that hangs, a DataLoader worker killed
mid-epoch) trains to the end: each bad file counted with its reason in bad_samples.json, the
killed worker's batches made again (same weights as a run whose worker lived); past
max_fraction the run stops naming the files. The same corpus through `vjepa eval`: counted and
listed, never swapped for another video."""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import threading
from pathlib import Path

import pytest
import torch
from data_fixtures import make_video
from eval_helpers import tiny_overrides as eval_overrides
from eval_helpers import tiny_video_encoder, tiny_video_sets
from faults import HANG, assert_reason, broken_corpus
from train_helpers import run_here, tiny_overrides

import vjepa.data.decoders as decoders
import vjepa.train.main as train_main
from vjepa.data.bad_samples import BadSampleTracker, TooManyBadSamples

KILL = "kills_its_worker.mp4"
@pytest.fixture
def faulty_decoder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):  # noqa: ANN201
    """open_video hangs on HANG; on KILL, the first DataLoader worker to open it is killed
    (SIGKILL, as the OOM killer does); returns a function that arms the kill."""
    release, marker = threading.Event(), tmp_path / "killed-once"
    armed = []
    real = decoders.open_video

    def open_video(path, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        name = Path(path).name
        if name == HANG:
            release.wait()  # far past the per-sample timeout
        if name == KILL and armed and torch.utils.data.get_worker_info() is not None:
            try:
                os.close(os.open(marker, os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                pass
            else:
                os.kill(os.getpid(), signal.SIGKILL)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(decoders, "open_video", open_video)
    yield lambda: armed.append(True)
    release.set()  # lets the abandoned decode threads of this process end


def corpus_index(tmp_path: Path) -> tuple[Path, dict[str, Path], Path]:
    good = [make_video(tmp_path / f"good{i}.mp4", num_frames=20, height=32, width=32)
            for i in range(5)]
    good.append(Path(shutil.copy(good[2], tmp_path / KILL)))
    bad, locked = broken_corpus(tmp_path, good)
    index = tmp_path / "train.csv"
    index.write_text("".join(f"{p} 0\n" for p in [*good, *bad.values(), locked]))
    return index, bad, locked


def train(tmp_path: Path, index: Path, name: str, workers: int = 2) -> tuple[dict, dict]:
    run_dir = tmp_path / name
    n = len(index.read_text().splitlines())  # one pass: every file is read at least once
    summary = run_here(tiny_overrides(run_dir, tmp_path / "cache", steps=n // 3 + 1,
                                      ipe=n // 3 + 1)
                       + [f"data.sources=[{index}]", f"data.num_workers={workers}",
                          "data.short_policy=filter", "data.timeout_s=1.0",
                          "logging.checkpoint_every=100"])
    return summary, json.loads((run_dir / "bad_samples.json").read_text())


def test_training_counts_every_broken_file_and_survives_a_killed_worker(
        tmp_path: Path, faulty_decoder) -> None:
    index, bad, locked = corpus_index(tmp_path)
    calm, calm_report = train(tmp_path, index, "calm")
    faulty_decoder()  # arm: the first worker to open KILL dies
    killed, report = train(tmp_path, index, "killed")
    assert (tmp_path / "killed-once").exists()  # a worker was killed
    assert len(report["worker_deaths"]) == 1 and "DataLoader worker" in \
        report["worker_deaths"][0]["error"] and not calm_report["worker_deaths"]
    assert killed["step"] == calm["step"] and killed["param_digest"] == calm["param_digest"]
    listed = {f["path"]: set(f["reasons"]) for f in report["files"]}
    if os.access(locked, os.R_OK):  # root reads a file whatever its mode: it is a good video
        assert str(locked) not in listed
    else:
        bad["unreadable_mode"] = locked
        assert listed[str(locked)] == {"unreadable"}
    for reason, path in bad.items():
        got = listed.pop(str(path))
        assert len(got) == 1, got
        assert_reason(reason.replace("_mode", ""), got.pop())
    assert not listed, f"good files reported bad: {listed}"
    assert report["counts"] == calm_report["counts"]  # the lost batches were made again


def test_past_max_fraction_the_run_stops_naming_the_files(tmp_path: Path, faulty_decoder,
                                                          monkeypatch) -> None:
    index, bad, _ = corpus_index(tmp_path)
    monkeypatch.setattr(train_main, "BadSampleTracker",
                        functools.partial(BadSampleTracker, min_attempts=0))
    with pytest.raises(TooManyBadSamples, match="worst files") as err:
        run_here(tiny_overrides(tmp_path / "run", tmp_path / "cache", steps=4, ipe=4)
                 + [f"data.sources=[{index}]", "data.max_bad_fraction=0.2",
                    "data.short_policy=filter", "data.timeout_s=1.0"])
    named = [p for p in bad.values() if str(p) in str(err.value)]
    assert named, str(err.value)
    report = json.loads((tmp_path / "run" / "bad_samples.json").read_text())
    assert {f["path"] for f in report["files"]} <= {str(p) for p in bad.values()}


def test_eval_counts_and_lists_every_broken_test_video_never_swapping(
        tmp_path: Path, faulty_decoder) -> None:
    from vjepa.eval.main import compose, run

    train_index, test_index = tiny_video_sets(tmp_path / "data")
    good_test = test_index.read_text()
    bad, locked = broken_corpus(tmp_path / "corpus", [Path(line.split()[0]) for line in
                                                      good_test.splitlines()[:2]])
    mixed = tmp_path / "test_mixed.csv"
    mixed.write_text(good_test + "".join(f"{p} 1\n" for p in [*bad.values(), locked]))
    ckpt = tiny_video_encoder(tmp_path / "enc.pth.tar")
    overrides = [*eval_overrides(ckpt, train_index, mixed, tmp_path / "run"),
                 "probe.protocol=knn", "data.timeout_s=1.0"]
    results = run(compose(overrides))
    videos = results["videos"]["test"]
    failed = {f["path"]: f["reason"] for f in videos["failed_files"]}
    expected = {str(p): r for r, p in bad.items() if r != "too_short"}  # eval pads short ones
    if not os.access(locked, os.R_OK):
        expected[str(locked)] = "unreadable"
    assert set(failed) == set(expected)
    for path, reason in expected.items():
        assert_reason(reason, failed[path])
    good = len(good_test.splitlines()) + 1 + (str(locked) not in expected)
    assert videos["evaluated"] == good
    assert videos["listed"] == videos["evaluated"] + videos["failed"]
