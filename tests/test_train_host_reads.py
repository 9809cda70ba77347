"""No host reads inside a step on the fast path: with a fused AdamW the non-finite skip is
decided on the device, and the loop reads the finite flags only every logging.log_every steps
(or at a checkpoint), with the same exact counts as a read every step."""

from __future__ import annotations

import pytest
import torch
from test_train_nonfinite import nan_inputs  # noqa: F401 (a fixture)
from train_helpers import load_latest, run_here, tiny_overrides

import vjepa.masks.apply as apply_module
from vjepa.smoke import tiny_jepa
from vjepa.train.build import build_optim
from vjepa.train.config import OptimConfig
from vjepa.train.nonfinite import NonFiniteCounter, NonFiniteLossError
from vjepa.train.step import optimizer_step

READS = ("__bool__", "item", "tolist", "__float__", "__int__", "__index__")


@pytest.fixture
def no_host_reads(monkeypatch):
    """Inside `with guard():` any read of a tensor value back to Python raises."""
    from contextlib import contextmanager

    @contextmanager
    def guard():
        with pytest.MonkeyPatch.context() as mp:
            for name in READS:
                def refuse(self, *args, _name=name, **kwargs):
                    raise AssertionError(f"host read Tensor.{_name} inside the step")
                mp.setattr(torch.Tensor, name, refuse)
            yield

    # the CPU masks' range check reads them (on a GPU the loader already checked them)
    monkeypatch.setattr(apply_module, "check_mask", lambda *a, **k: None)
    return guard


@pytest.mark.parametrize("poison", [False, True])
def test_fused_step_reads_nothing_and_skips_on_device(no_host_reads, poison):
    torch.manual_seed(0)
    model, collator = tiny_jepa(4)
    opt, _ = build_optim(model, OptimConfig(), 300, fused=True)
    x = torch.randn(2, 1, 3, 4, 64, 64)
    enc, pred = collator.masks(0, 2)
    optimizer_step(model, model, [({"video": x}, enc, pred)], opt, None, torch.device("cpu"),
                   "float32", 1.0, 0.99)  # moments exist before the tested step
    before = {k: v.clone() for k, v in model.state_dict().items()}
    moments = {id(p): {k: v.clone() for k, v in st.items()} for p, st in opt.state.items()}
    bad = x * float("nan") if poison else x
    for group in opt.param_groups:
        group["lr"], group["weight_decay"] = 1e-3, 0.05
    with no_host_reads():
        result = optimizer_step(model, model, [({"video": bad}, enc, pred)], opt, None,
                                torch.device("cpu"), "float32", 1.0, 0.99)
    assert isinstance(result.finite, torch.Tensor) and bool(result.finite) is not poison
    after = model.state_dict()
    same = [torch.equal(before[k], after[k]) for k in before if "pos_embed" not in k]
    assert all(same) if poison else not any(same)
    kept = [torch.equal(moments[id(p)][k], v) for p, st in opt.state.items()
            for k, v in st.items()]
    assert all(kept) if poison else not any(kept)


@pytest.fixture
def nan_steps(monkeypatch, request):
    """`nan_inputs` (the clips of chosen 0-based steps become NaN), and how many pending flags
    each read of the loop took (only reads that had any)."""
    reads: list[int] = []
    real_settle = NonFiniteCounter.settle

    def settle(self):
        if self.pending:
            reads.append(len(self.pending))
        return real_settle(self)

    monkeypatch.setattr(NonFiniteCounter, "settle", settle)
    return request.getfixturevalue("nan_inputs"), reads


FAST = ["speed.fused_adamw=on", "logging.log_every=4"]


def test_deferred_reads_count_exactly(tmp_path, nan_steps):
    bad, reads = nan_steps
    bad.update({2, 3})
    run_dir = tmp_path / "run"
    summary = run_here(tiny_overrides(run_dir, tmp_path / "cache", steps=8) + FAST
                       + ["logging.checkpoint_every=4", "optim.max_nonfinite=3"])
    assert summary["step"] == 8 and summary["nonfinite_total"] == 2
    assert reads == [4, 4]  # one read per 4 steps, not one per step
    state = load_latest(run_dir)
    assert state["extra"]["nonfinite_total"] == 2
    assert all(torch.isfinite(t).all() for t in state["encoder"].values())
    header, *rows = (run_dir / "metrics.csv").read_text().splitlines()
    cols = header.split(",")
    first = dict(zip(cols, rows[0].split(","), strict=True))
    assert len(rows) == 2 and first["nonfinite_total"] == "2"
    assert float(first["loss"]) == float(first["loss"])  # the mean of the 2 finite steps


def test_deferred_reads_stop_at_the_run_that_reached_the_limit(tmp_path, nan_steps):
    bad, reads = nan_steps
    bad.update(range(3, 100))
    run_dir = tmp_path / "run"
    with pytest.raises(NonFiniteLossError, match="3 non-finite losses in a row .* at step 5;"):
        run_here(tiny_overrides(run_dir, tmp_path / "cache", steps=8) + FAST
                 + ["logging.checkpoint_every=2", "optim.max_nonfinite=3"])
    assert reads == [2, 2, 2]  # steps 0-1, 2-3, 4-5: the third read found the third NaN
    state = load_latest(run_dir)
    assert state["step"] == 2 and state["extra"]["nonfinite_total"] == 0
