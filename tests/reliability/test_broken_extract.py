"""Guarantee 5 through `vjepa extract`: the broken corpus (missing, zero bytes, a folder, text
renamed .mp4, truncated, scrambled packets, shorter than a clip, no read permission) plus a
file whose open hangs and one whose decode hangs after its first batch of windows. Every bad
file is reported in the manifest with its reason, a hang within `--timeout-s` (the stuck
reader is never closed under its decode), and every good file's features are its own."""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from data_fixtures import make_video
from eval_helpers import tiny_video_encoder
from faults import HANG, assert_reason, broken_corpus

import vjepa.features as features
from vjepa.eval.extract import main, read_features
from vjepa.pretrained import load_pretrained

HANG_MIDWAY = "hangs_after_one_batch.mp4"
NO_FIX_S = 30  # without a bound the stuck decodes end here and fail the run


class StuckAfterOneBatch:
    """A reader whose second get_batch blocks until released; records a close under it."""

    def __init__(self, reader: object, release: threading.Event, closed_under: list) -> None:
        self.reader, self.release, self.closed_under = reader, release, closed_under
        self.calls, self.inside = 0, False
        self.packets_not_output = reader.packets_not_output

    def __len__(self) -> int:
        return len(self.reader)

    @property
    def fps(self) -> float:
        return self.reader.fps

    def get_batch(self, indices: list[int]):  # noqa: ANN201 (frames)
        self.calls += 1
        if self.calls == 2:
            self.inside = True
            self.release.wait(NO_FIX_S)
            raise RuntimeError("a stuck decode was released: nothing bounded it")
        return self.reader.get_batch(indices)

    def close(self) -> None:
        if self.inside:
            self.closed_under.append(True)
        self.reader.close()


@pytest.fixture
def hanging_decodes(monkeypatch: pytest.MonkeyPatch) -> Iterator[list]:
    """Opening HANG blocks; HANG_MIDWAY blocks in its second batch. Yields the list of
    closes made under a stuck decode."""
    release, closed_under = threading.Event(), []
    real = features.open_video

    def open_video(path, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        if Path(path).name == HANG:
            release.wait(NO_FIX_S)
            raise RuntimeError("a stuck open was released: nothing bounded it")
        reader = real(path, *args, **kwargs)
        if Path(path).name == HANG_MIDWAY:
            return StuckAfterOneBatch(reader, release, closed_under)
        return reader

    monkeypatch.setattr(features, "open_video", open_video)
    yield closed_under
    release.set()  # lets the abandoned decode threads end


def test_extract_reports_every_broken_file_and_bounds_hangs(tmp_path: Path, hanging_decodes: list,
                                                            capsys: pytest.CaptureFixture) -> None:
    good = [make_video(tmp_path / f"good{i}.mp4", num_frames=20 + 8 * i, height=32, width=32)
            for i in range(3)]
    bad, locked = broken_corpus(tmp_path / "corpus", good)
    bad["timeout_midway"] = Path(shutil.copy(good[1], tmp_path / HANG_MIDWAY))
    index = tmp_path / "videos.csv"
    index.write_text("".join(f"{p} 0\n" for p in [*good, *bad.values(), locked]))
    ckpt = tiny_video_encoder(tmp_path / "enc.pth.tar")
    out = tmp_path / "feats"
    args = [str(ckpt), str(index), str(out), "--num-heads", "2", "--batch-size", "1",
            "--device", "cpu", "--no-progress", "--timeout-s", "1"]
    assert main(args) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    entries = {e["input"]: e for e in manifest["files"]}
    scrambled = str(bad.pop("short_decode"))
    expected = {str(p): r.replace("_midway", "") for r, p in bad.items() if r != "too_short"}
    if not os.access(locked, os.R_OK):  # root reads a file whatever its mode: then it is good
        expected[str(locked)] = "unreadable"
    reported = {path: e["reason"] for path, e in entries.items() if e["status"] == "bad"}
    scrambled_bad = scrambled in reported
    if scrambled_bad:
        assert_reason("short_decode", reported.pop(scrambled))
    else:  # PyAV reads from the first intact keyframe on: reported as partial, not silent
        entry = entries[scrambled]
        frames = read_features(entry["output"])[0].num_source_frames
        assert frames == entry["num_source_frames"] < 20
        assert entry["packets_not_output"] == 20 - frames
        assert f"partial: {scrambled}: features of its {frames} decodable frames" in \
            capsys.readouterr().out
    assert set(reported) == set(expected)
    for path, reason in expected.items():
        assert_reason(reason, reported[path])
    assert not hanging_decodes, "a reader was closed while its decode was stuck in it"
    pre = load_pretrained(ckpt, num_heads=2)
    done = [path for path, e in entries.items() if e["status"] == "done"]
    assert len(done) == len(entries) - len(expected) - scrambled_bad
    for path in done:  # each its own features (lengths differ; the short one padded)
        assert path == scrambled or "packets_not_output" not in entries[path]
        feats, meta = read_features(entries[path]["output"])
        assert meta["source"] == path
        torch.testing.assert_close(feats.features,
                                   features.extract_features(pre, path).features)
    again = main([*args[:-1], "2"])  # the bound is not an option of what is computed
    assert again == 0
    counts = json.loads((out / "manifest.json").read_text())["counts"]
    assert counts == {"done": 0, "skipped": len(done), "bad": len(expected) + scrambled_bad,
                      "replaced": 0}
