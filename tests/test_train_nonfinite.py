"""Non-finite losses: skipped and counted; too many in a row stop the run with the last good
checkpoint intact."""

from __future__ import annotations

import pytest
import torch
from train_helpers import load_latest, run_here, tiny_overrides

import vjepa.train.step as step_module
from vjepa.train.nonfinite import NonFiniteLossError


@pytest.fixture
def nan_inputs(monkeypatch):
    """Make the clips of chosen (0-based) steps NaN: returns the set to fill."""
    bad: set[int] = set()
    calls = {"n": 0}
    real = step_module.to_device

    def poisoned(batch, masks_enc, masks_pred, device):
        x, enc, pred = real(batch, masks_enc, masks_pred, device)
        if calls["n"] in bad:
            x = torch.full_like(x, float("nan"))
        calls["n"] += 1
        return x, enc, pred

    monkeypatch.setattr(step_module, "to_device", poisoned)
    return bad


def test_nonfinite_steps_are_skipped_and_counted(tmp_path, nan_inputs):
    nan_inputs.update({2, 3})
    run_dir = tmp_path / "run"
    summary = run_here(tiny_overrides(run_dir, tmp_path / "cache", steps=8)
                       + ["optim.max_nonfinite=3"])
    assert summary["step"] == 8 and summary["nonfinite_total"] == 2
    state = load_latest(run_dir)
    assert state["extra"]["nonfinite_total"] == 2
    assert all(torch.isfinite(t).all() for t in state["encoder"].values())
    rows = (run_dir / "metrics.csv").read_text().splitlines()
    assert rows[-1].split(",")[rows[0].split(",").index("nonfinite_total")] == "2"


def test_too_many_nonfinite_in_a_row_stop_with_good_checkpoint(tmp_path, nan_inputs):
    nan_inputs.update(range(3, 100))
    run_dir = tmp_path / "run"
    with pytest.raises(NonFiniteLossError, match="3 non-finite losses in a row"):
        run_here(tiny_overrides(run_dir, tmp_path / "cache", steps=8)
                 + ["optim.max_nonfinite=3"])
    state = load_latest(run_dir)
    assert state["step"] == 3  # the last step whose update was applied
    assert all(torch.isfinite(t).all() for key in ("encoder", "predictor", "target_encoder")
               for t in state[key].values())
