"""Guarantee 7: a NaN / inf in the loss, in the gradients of one module only, or in the EMA
target's output makes the step a no-op (parameters, optimizer state and target encoder stay
bit for bit as they were), counted; repeated faults stop the run with the last good checkpoint
intact. Faults are injected through the model's public modules (forward and gradient hooks),
whatever the step's implementation."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from train_helpers import assert_same_tensors, run_here, tiny_overrides

from vjepa.jepa import JEPA
from vjepa.train.checkpoint import load_checkpoint
from vjepa.train.loop import Trainer
from vjepa.train.nonfinite import NonFiniteLossError

NAN, INF = float("nan"), float("inf")


def loss_fault(model: JEPA) -> list:
    return [model.register_forward_hook(
        lambda _m, _i, out: dataclasses.replace(out, loss=out.loss * NAN))]


def predictor_grad_fault(model: JEPA) -> list:  # the encoder's gradients stay finite
    param = next(p for p in model.predictor.parameters() if p.requires_grad)
    return [param.register_hook(lambda g: torch.full_like(g, INF))]


def target_fault(model: JEPA) -> list:
    return [model.target_encoder.register_forward_hook(lambda _m, _i, out: out * NAN)]


def snapshot(trainer: Trainer) -> dict:
    m = trainer.model
    return copy.deepcopy({"encoder": m.encoder.state_dict(), "predictor": m.predictor.state_dict(),
                          "target": m.target_encoder.state_dict(),
                          # moments and step counts (lr / wd are the schedule's, set per step)
                          "optimizer": trainer.optimizer.state_dict()["state"]})


@pytest.fixture
def inject(monkeypatch: pytest.MonkeyPatch) -> Callable[[Callable, set[int]], list]:
    """inject(fault, steps): apply `fault` to the model during those (0-based) steps; returns
    the list where each faulty step records (step, finite, state unchanged)."""
    seen: list = []

    def arm(fault: Callable, steps: set[int]) -> list:
        real = Trainer.run_step

        def run_step(self: Trainer, micro: list, data_s: float):  # noqa: ANN202
            if self.step not in steps:
                return real(self, micro, data_s)
            before, handles = snapshot(self), fault(self.model)
            try:
                result = real(self, micro, data_s)
            finally:
                for handle in handles:
                    handle.remove()
            after = snapshot(self)
            assert_same_tensors(after, before, f"step {self.step}")  # untouched
            seen.append((self.step, result.finite))
            return result

        monkeypatch.setattr(Trainer, "run_step", run_step)
        return seen

    return arm


@pytest.mark.parametrize("fault", [loss_fault, predictor_grad_fault, target_fault])
def test_a_faulty_step_is_skipped_counted_and_leaves_state_untouched(
    tmp_path: Path, inject, fault: Callable
) -> None:
    # the fault lands at step 5, after warmup (clipping on), with AdamW moments already there
    seen = inject(fault, {5})
    overrides = tiny_overrides(tmp_path / "run", tmp_path / "cache", steps=8, ipe=4)
    summary = run_here([*overrides, "optim.max_nonfinite=2"])
    assert seen == [(5, False)]
    assert summary["step"] == 8 and summary["nonfinite_total"] == 1
    state = load_checkpoint(tmp_path / "run" / "checkpoints" / "latest.pt")
    assert state["extra"]["nonfinite_total"] == 1
    assert all(torch.isfinite(t).all() for part in ("encoder", "predictor", "target_encoder")
               for t in state[part].values())


def test_repeated_faults_stop_the_run_with_the_last_good_checkpoint_intact(
    tmp_path: Path, inject
) -> None:
    seen = inject(target_fault, {3, 4, 5, 6, 7})
    run_dir = tmp_path / "run"
    with pytest.raises(NonFiniteLossError, match="3 non-finite losses in a row"):
        run_here([*tiny_overrides(run_dir, tmp_path / "cache", steps=8, ipe=4),
                  "optim.max_nonfinite=3"])
    assert seen == [(3, False), (4, False)]  # the third raised inside its step
    state = load_checkpoint(run_dir / "checkpoints" / "latest.pt")  # reads, checksums agree
    assert state["step"] == 3 and state["extra"]["nonfinite_total"] == 0
    assert all(torch.isfinite(t).all() for t in state["target_encoder"].values())
