"""A failed run explains itself in its run folder; bad input fails early, naming the problem."""

from __future__ import annotations

import functools
import json

import pytest
from data_fixtures import make_video
from official_fakes import vjepa_file
from omegaconf.errors import MissingMandatoryValue
from train_helpers import run_here, tiny_overrides

import vjepa.train.main as train_main
from vjepa.checkpoints.errors import CheckpointError
from vjepa.data.bad_samples import BadSampleTracker, TooManyBadSamples
from vjepa.eval.extract import main as extract_main
from vjepa.pretrained import load_pretrained
from vjepa.train.hydra_config import compose, finalize
from vjepa.train.loop import Trainer


def test_bad_samples_stopping_a_run_are_recorded_in_its_folder(tmp_path, monkeypatch):
    good = [make_video(tmp_path / f"ok{i}.mp4", num_frames=20, height=32, width=32)
            for i in range(3)]
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    index = tmp_path / "train.csv"
    index.write_text("".join(f"{p} 0\n" for p in [*good, broken]))
    # stop at the first broken load (the default waits for 200 attempts)
    monkeypatch.setattr(train_main, "BadSampleTracker",
                        functools.partial(BadSampleTracker, min_attempts=0))
    run_dir = tmp_path / "run"
    with pytest.raises(TooManyBadSamples):
        run_here(tiny_overrides(run_dir, tmp_path / "cache", steps=8)
                 + [f"data.sources=[{index}]", "data.max_bad_fraction=0.0",
                    "data.batch_size=4"])
    log = (run_dir / "train.log").read_text()
    assert "run failed: TooManyBadSamples" in log and "Traceback" in log
    assert str(broken) in log  # the worst files, as the error names them
    report = json.loads((run_dir / "bad_samples.json").read_text())
    assert report["failures"] >= 1 and report["files"][0]["path"] == str(broken)


def test_any_exception_lands_in_train_log_and_bad_samples_json(tmp_path, monkeypatch):
    calls = []

    def failing_step(self, micro, data_s):
        calls.append(self.step)
        if len(calls) == 3:
            raise RuntimeError("boom at the third step")
        return original(self, micro, data_s)

    original = Trainer.run_step
    monkeypatch.setattr(Trainer, "run_step", failing_step)
    run_dir = tmp_path / "run"
    with pytest.raises(RuntimeError, match="boom"):
        run_here(tiny_overrides(run_dir, tmp_path / "cache", steps=8))
    log = (run_dir / "train.log").read_text()
    assert "run failed: RuntimeError: boom at the third step" in log
    assert "Traceback" in log and "failing_step" in log
    assert json.loads((run_dir / "bad_samples.json").read_text())["samples_delivered"] == 6


def test_missing_source_fails_before_building_and_leaves_no_run_folder(tmp_path, monkeypatch):
    def no_build(*args, **kwargs):
        raise AssertionError("built a model for a run whose data does not exist")

    monkeypatch.setattr(train_main, "build_trainer", no_build)
    run_dir, missing = tmp_path / "run", tmp_path / "k710.csv"
    with pytest.raises(ValueError, match=f"data.sources: {missing} does not exist"):
        run_here(tiny_overrides(run_dir, tmp_path / "cache") + [f"data.sources=[{missing}]"])
    assert not run_dir.exists()


def test_missing_sources_says_how_to_set_them():
    hint = r"data.sources=\[/data/.*\].*data.sources=\[\]"
    with pytest.raises(MissingMandatoryValue, match=hint):
        finalize(compose(["experiment=vjepa_vitl16"]))


def test_load_pretrained_of_an_index_file_says_it_is_no_checkpoint(tmp_path):
    index = tmp_path / "x.csv"
    index.write_text("videos/a.mp4 0\nvideos/b.mp4 1\n")
    with pytest.raises(CheckpointError, match="not a checkpoint") as info:
        load_pretrained(index)
    assert "trust_pickle" not in str(info.value)


def test_extract_with_swapped_arguments_says_so(tmp_path, capsys):
    ckpt = vjepa_file(tmp_path / "vitl16.pth.tar", frames=4, img=32, patch=8, depth=1)
    videos = tmp_path / "videos"
    make_video(videos / "a.mp4", num_frames=8)
    code = extract_main([str(videos), str(ckpt), str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert f"index file {ckpt} is not text" in err
    assert "usage: vjepa extract CHECKPOINT INPUTS OUT_DIR" in err
