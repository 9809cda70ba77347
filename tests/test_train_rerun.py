"""Resuming from a run folder: its own config, changes named, a finished run says so."""

from __future__ import annotations

import logging
import math
import subprocess

import pytest
from omegaconf import OmegaConf
from train_helpers import load_latest, run_here, subprocess_env, tiny_overrides, train_command

from vjepa.train.hydra_config import compose, finalize
from vjepa.train.logs import read_metrics
from vjepa.train.rerun import with_saved_config


def test_run_dir_alone_resumes_with_the_folder_config(tmp_path):
    run_dir = tmp_path / "run"
    first = run_here(tiny_overrides(run_dir, tmp_path / "cache", steps=4, ipe=2)
                     + ["optim.lr=5e-4", "optim.max_steps=2"])
    assert first["step"] == 2
    # the command a user types: nothing but the folder (and how far to go)
    done = subprocess.run(train_command([f"run_dir={run_dir}", "optim.max_steps=4"]),
                          env=subprocess_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    state = load_latest(run_dir)
    assert state["step"] == 4
    assert state["config"]["optim"]["lr"] == 5e-4 and state["config"]["model"]["embed_dim"] == 32
    assert f"resuming {run_dir} with its saved config" in done.stdout + done.stderr


def test_overrides_go_on_top_of_the_saved_config(tmp_path):
    saved = finalize(compose(["experiment=ijepa_tiny", "data.batch_size=7", "launcher=local"]))
    OmegaConf.save(saved, tmp_path / "config.yaml", resolve=True)
    overrides = [f"run_dir={tmp_path}", "optim.lr=3e-4"]
    cfg = finalize(with_saved_config(compose(overrides), overrides))
    assert cfg.experiment == "ijepa_tiny" and cfg.model.num_frames == 1
    assert cfg.data.batch_size == 7 and cfg.optim.lr == 3e-4
    assert cfg.launcher == "none"  # where it runs is this command's choice
    other = ["experiment=vjepa_tiny", f"run_dir={tmp_path}"]
    assert finalize(with_saved_config(compose(other), other)).experiment == "vjepa_tiny"


def test_another_experiment_is_named_as_the_change(tmp_path):
    run_dir, cache = tmp_path / "run", tmp_path / "cache"
    run_here(tiny_overrides(run_dir, cache, steps=2, ipe=2))
    with pytest.raises(ValueError, match=r"experiment: 'vjepa_tiny' -> 'ijepa_tiny', another "
                                         r"recipe, so \d+ recipe keys differ: .*data.kind"):
        run_here(["experiment=ijepa_tiny", f"run_dir={run_dir}", f"data.cache_dir={cache}",
                  "data.synthetic_num=12", "data.synthetic_size=32", "data.num_workers=0"])


def test_rerunning_a_finished_run_says_it_is_complete(tmp_path, caplog):
    overrides = tiny_overrides(tmp_path / "run", tmp_path / "cache", steps=4, ipe=2)
    run_here(overrides)
    loss = read_metrics(tmp_path / "run" / "metrics.csv")["loss"][-1]
    with caplog.at_level(logging.INFO, logger="vjepa"):
        again = run_here(overrides)
    assert again["step"] == 4 and math.isfinite(again["loss"]) and again["loss"] == loss
    assert (f"is already complete: step 4 of 4; last logged loss {loss:.4f} at step 4"
            in caplog.text)
