"""Schedules against closed-form values and the official stateful loop; parameter groups."""

from __future__ import annotations

import math

import pytest
import torch

from vjepa.smoke import tiny_jepa
from vjepa.train.optim import apply_schedule, build_optimizer, param_groups
from vjepa.train.schedules import make_schedules

RECIPE = dict(ipe=10, epochs=4, ipe_scale=1.25, warmup=1.5, start_lr=2e-4, lr=6.25e-4,
              final_lr=1e-6, weight_decay=0.04, final_weight_decay=0.4, ema=(0.998, 1.0))


class OfficialLoop:
    """The official schedulers as the loop drives them: counters advanced before each
    iteration (lr, wd), a generator for the momentum."""

    def __init__(self, r: dict) -> None:
        self.r, self.k = r, 0
        self.warm = int(r["warmup"] * r["ipe"])
        self.t_max = int(r["ipe_scale"] * r["epochs"] * r["ipe"])
        n = r["ipe"] * r["epochs"] * r["ipe_scale"]
        e0, e1 = r["ema"]
        self.momentum = (e0 + i * (e1 - e0) / n for i in range(int(n) + 1))

    def next(self) -> tuple[float, float, float]:
        r = self.r
        self.k += 1
        if self.k < self.warm:
            lr = r["start_lr"] + self.k / self.warm * (r["lr"] - r["start_lr"])
        else:
            prog = (self.k - self.warm) / (self.t_max - self.warm)
            lr = max(r["final_lr"], r["final_lr"] + (r["lr"] - r["final_lr"]) * 0.5
                     * (1 + math.cos(math.pi * prog)))
        wd = r["final_weight_decay"] + (r["weight_decay"] - r["final_weight_decay"]) * 0.5 * (
            1 + math.cos(math.pi * self.k / self.t_max))
        wd = min(r["final_weight_decay"], wd)
        return lr, wd, next(self.momentum)


def test_schedules_equal_the_official_loop_at_every_step():
    s = make_schedules(**RECIPE)
    ref = OfficialLoop(RECIPE)
    for step in range(int(RECIPE["ipe"] * RECIPE["epochs"] * RECIPE["ipe_scale"])):
        lr, wd, m = ref.next()
        assert s.lr(step) == pytest.approx(lr, rel=1e-12)
        assert s.wd(step) == pytest.approx(wd, rel=1e-12)
        assert s.momentum(step) == pytest.approx(m, rel=1e-12)


def test_closed_form_landmarks():
    s = make_schedules(**RECIPE)
    assert (s.warmup_steps, s.total_steps, s.momentum_steps) == (15, 50, 50.0)
    assert s.lr(0) == pytest.approx(2e-4 + (6.25e-4 - 2e-4) / 15)
    assert s.lr(14) == pytest.approx(6.25e-4)  # counter 15 = end of warmup: the peak
    mid = 15 + (50 - 15) // 2 - 1  # counter at half of the cosine -> midpoint
    assert s.lr(mid) == pytest.approx(1e-6 + (6.25e-4 - 1e-6) * 0.5 * (1 + math.cos(math.pi * 17
                                                                                     / 35)))
    assert s.lr(49) == pytest.approx(1e-6)
    assert s.wd(24) == pytest.approx(0.22)  # counter 25 of 50: halfway 0.04 -> 0.4
    assert s.momentum(0) == 0.998 and s.momentum(25) == pytest.approx(0.999)
    assert s.momentum(10_000) == 1.0


def test_bad_horizons_raise():
    with pytest.raises(ValueError, match="ipe"):
        make_schedules(**{**RECIPE, "ipe": 0})


def test_param_groups_follow_the_official_rule():
    model, _ = tiny_jepa(4)
    groups = param_groups({"encoder": model.encoder, "predictor": model.predictor})
    assert [g["name"] for g in groups] == ["encoder.decay", "predictor.decay",
                                           "encoder.no_decay", "predictor.no_decay"]
    names = {id(p): n for m in ("encoder", "predictor")
             for n, p in getattr(model, m).named_parameters(prefix=m)}
    by_group = {g["name"]: {names[id(p)] for p in g["params"]} for g in groups}
    assert "predictor.mask_tokens.0" in by_group["predictor.decay"]  # 3-D: decayed, as official
    assert "encoder.blocks.0.attn.qkv.weight" in by_group["encoder.decay"]
    assert "encoder.blocks.0.norm1.weight" in by_group["encoder.no_decay"]
    assert "encoder.blocks.0.attn.qkv.bias" in by_group["encoder.no_decay"]
    everything = set().union(*by_group.values())
    assert "encoder.pos_embed" not in everything  # fixed table: not trained
    trainable = {n for n, p in model.encoder.named_parameters(prefix="encoder") if p.requires_grad}
    assert trainable <= everything
    for name, members in by_group.items():
        for n in members:
            p = dict(getattr(model, n.split(".")[0]).named_parameters(prefix=n.split(".")[0]))[n]
            assert ("bias" not in n and p.dim() != 1) == name.endswith(".decay"), n


def test_apply_schedule_leaves_excluded_groups_at_zero_decay():
    model, _ = tiny_jepa(1)
    opt = build_optimizer({"encoder": model.encoder, "predictor": model.predictor})
    apply_schedule(opt, lr=3e-4, wd=0.123)
    for g in opt.param_groups:
        assert g["lr"] == 3e-4
        assert g["weight_decay"] == (0.0 if g["wd_exclude"] else 0.123)
    loss = sum(p.sum() for p in model.parameters() if p.requires_grad)
    loss.backward()
    opt.step()  # the extra group keys do not disturb AdamW
    assert all(torch.isfinite(p).all() for p in model.parameters())
