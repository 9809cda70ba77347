"""In-training probe: the columns it writes, the random-init baseline, resume, and that its
probes read an easy label far above chance (mechanics, not pretraining quality)."""

from __future__ import annotations

import csv
import json
import math

import torch
from train_helpers import run_here, tiny_overrides

from vjepa.train.plots import PLOT_NAME
from vjepa.train.probe_eval import INIT_FILE, LabelledSet, token_scores

PROBE = ["probe.every=1", "probe.protocols=[knn,linear,attentive]", "probe.num_train=16",
         "probe.num_test=8", "probe.epochs=2", "probe.batch_size=8"]


def test_in_training_probe_writes_its_columns_and_baseline(tmp_path):
    run_dir = tmp_path / "run"
    summary = run_here(tiny_overrides(run_dir, tmp_path / "cache", steps=4, ipe=2) + PROBE
                       + ["logging.log_every=2", "logging.plots=true"])
    rows = list(csv.DictReader(open(run_dir / "metrics.csv")))
    assert [r["step"] for r in rows] == ["2", "4"]
    for name in ("knn", "linear", "attentive"):
        for r in rows:  # probed at every epoch end (every=1, ipe=2, log_every=2)
            assert 0.0 <= float(r[f"probe_{name}"]) <= 1.0
            assert 0.0 <= float(r[f"probe_{name}_init"]) <= 1.0
    init = json.loads((run_dir / INIT_FILE).read_text())
    assert init["step"] == 0 and set(init["scores"]) == {"knn", "linear", "attentive"}
    assert summary["probe"]["step"] == 4
    assert summary["probe"]["random_init"] == init["scores"]
    assert summary["probe"]["chance"] == 1 / 8
    assert (run_dir / "plots" / PLOT_NAME).is_file()
    assert "in-training probe at step 4" in (run_dir / "train.log").read_text()

    # resumed with more steps: the baseline is read back, not re-measured on trained weights
    (run_dir / INIT_FILE).write_text(json.dumps({"step": 0, "scores": {
        "knn": 0.5, "linear": 0.25, "attentive": 0.75}}))
    run_here(tiny_overrides(run_dir, tmp_path / "cache", steps=6, ipe=2) + PROBE
             + ["logging.log_every=2", "optim.max_steps=6", "resume_check=false"])
    last = list(csv.DictReader(open(run_dir / "metrics.csv")))[-1]
    assert last["step"] == "6" and float(last["probe_attentive_init"]) == 0.75


def test_probe_rows_without_a_probe_hold_nan(tmp_path):
    run_dir = tmp_path / "run"
    run_here(tiny_overrides(run_dir, tmp_path / "cache", steps=4, ipe=4) + PROBE[:1]
             + ["probe.num_train=8", "probe.num_test=8", "logging.log_every=1"])
    rows = list(csv.DictReader(open(run_dir / "metrics.csv")))
    probed = [r["step"] for r in rows if not math.isnan(float(r["probe_knn"]))]
    assert probed == ["4"]  # epoch end only (ipe=4)
    assert all(math.isfinite(float(r["probe_knn_init"])) for r in rows)


def test_probes_read_an_easy_label_far_above_chance():
    g = torch.Generator().manual_seed(0)
    means = torch.randn(4, 8, generator=g) * 3  # one feature mean per class

    def make(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.arange(n) % 4
        tokens = means[y][:, None, :] + torch.randn(n, 6, 8, generator=g)  # [n, 6 tokens, 8]
        return tokens, y

    (xtr, ytr), (xte, yte) = make(128), make(64)
    cfg = type("P", (), dict(protocols=["knn", "linear", "attentive"], batch_size=32,
                             lr=1e-2, weight_decay=0.01, epochs=10, k=10))()
    scores = token_scores(LabelledSet(xtr, ytr, xte, yte, 4), cfg, num_heads=2)
    assert all(v > 0.9 for v in scores.values()), scores  # chance is 0.25
