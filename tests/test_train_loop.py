"""One short run: the run folder's files, the monitored columns, autocast / GradScaler modes."""

from __future__ import annotations

import csv
import logging
import math
import sys

import pytest
from train_helpers import load_latest, run_here, tiny_overrides

from vjepa.train.plots import COLUMNS, PLOT_NAME


def test_run_folder_holds_config_logs_curves_and_plots(tmp_path):
    run_dir = tmp_path / "run"
    summary = run_here(tiny_overrides(run_dir, tmp_path / "cache", steps=4, ipe=2)
                       + ["logging.plots=true", "logging.tensorboard=true",
                          "logging.log_every=2", "logging.checkpoint_every=2",
                          "logging.keep_every=2"])
    assert summary["step"] == 4 and math.isfinite(summary["loss"])
    names = {p.name for p in run_dir.iterdir()}
    assert {"config.yaml", "version.txt", "train.log", "metrics.csv", "tensorboard", "plots",
            "checkpoints", "bad_samples.json"} <= names
    version = (run_dir / "version.txt").read_text()
    assert "vjepa 0." in version and "\ncommit " in version
    assert [p.name for p in (run_dir / "plots").iterdir()] == [PLOT_NAME]
    assert any((run_dir / "tensorboard").iterdir())
    assert {p.name for p in (run_dir / "checkpoints").iterdir()} == {
        "latest.pt", "step_00000002.pt", "step_00000004.pt"}
    rows = list(csv.DictReader(open(run_dir / "metrics.csv")))
    assert [r["step"] for r in rows] == ["2", "4"]  # integers, not 2.0
    for name in COLUMNS:  # all measured; MFU has no bf16 peak to divide by on a CPU
        assert all(math.isfinite(float(r[name])) == (name != "mfu") for r in rows), name
    assert all(float(r[k]) > 0 for r in rows for k in ("std_tokens", "eff_rank", "loss"))


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_autocast_modes_and_scaler(tmp_path, dtype):
    run_dir = tmp_path / "run"
    summary = run_here(tiny_overrides(run_dir, tmp_path / "cache", steps=2, ipe=2)
                       + [f"optim.dtype={dtype}"])
    assert summary["step"] == 2
    state = load_latest(run_dir)
    assert (state["scaler"] is not None) == (dtype == "float16")


def test_log_lines_never_glue_onto_the_progress_bar(tmp_path, capsys):
    console = logging.StreamHandler(sys.stderr)  # a console handler, as Hydra installs one
    logging.getLogger().addHandler(console)
    try:
        run_here(tiny_overrides(tmp_path / "run", tmp_path / "cache", steps=4, ipe=2)
                 + ["logging.progress=true"])
    finally:
        logging.getLogger().removeHandler(console)
    err = capsys.readouterr().err
    assert "4/4" in err  # the bar was drawn on this stream
    shown = [line.rsplit("\r", 1)[-1] for line in err.split("\n")]  # what a terminal keeps
    saves = [line for line in shown if "checkpoint step" in line]
    assert len(saves) == 4 and all(line.startswith("checkpoint step") for line in saves), saves
