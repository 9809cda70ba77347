"""Mechanics of learning (seconds, not accuracy): on a few synthetic motion clips the loss
falls, the EMA moves the target encoder toward the online one (and momentum 1 freezes it), and
the collapse indicators of the target features stay above the recipe's floors."""

from __future__ import annotations

import numpy as np
import torch
from train_helpers import tiny_overrides

from vjepa.data.synthetic import render_motion_clip
from vjepa.data.transforms import normalize_batch
from vjepa.train.build import build_core, build_optim
from vjepa.train.hydra_config import compose, finalize
from vjepa.train.monitor import collapse_indicators
from vjepa.train.optim import apply_schedule
from vjepa.train.step import optimizer_step


def _clips(n: int, frames: int = 4, size: int = 32) -> torch.Tensor:
    """[n, 1 clip, C, T, H, W] normalised motion clips (one shape, 8 directions)."""
    clips = [np.stack(render_motion_clip(np.random.default_rng([3, i]), i % 8, 8, frames, size))
             for i in range(n)]
    video = torch.from_numpy(np.stack(clips)).permute(0, 4, 1, 2, 3)  # [n, C, T, H, W]
    return normalize_batch(video)[:, None]


def _train(tmp_path, steps: int, ema: str) -> tuple:
    cfg = finalize(compose(tiny_overrides(tmp_path / "run", tmp_path / "cache", steps, steps)
                           + [f"optim.ema={ema}", "optim.lr=1e-3", "optim.start_lr=1e-3",
                              "optim.warmup=0", "seed=0"]))
    torch.manual_seed(0)
    model, collator = build_core(cfg)
    init = {k: v.clone() for k, v in model.target_encoder.state_dict().items()}
    opt, sched = build_optim(model, cfg.optim, steps)
    x = _clips(12)
    losses = []
    for s in range(steps):
        enc, pred = collator.masks(s, len(x))
        apply_schedule(opt, sched.lr(s), sched.wd(s))
        r = optimizer_step(model, model, [({"video": x}, enc, pred)], opt, None,
                           torch.device("cpu"), "float32", None, sched.momentum(s))
        losses.append(float(r.loss))
    return losses, init, model, r, cfg


def test_loss_falls_ema_moves_target_indicators_above_floors(tmp_path):
    torch.set_num_threads(1)
    losses, init, model, last, cfg = _train(tmp_path, 30, "[0.9,0.9]")
    assert np.mean(losses[-5:]) < 0.92 * np.mean(losses[:5]), losses
    target = model.target_encoder.state_dict()
    online = model.encoder.state_dict()
    moved = sum(float((target[k] - init[k]).norm()) for k in init)
    gap_now = sum(float((target[k] - online[k]).norm()) for k in init)
    gap_init = sum(float((init[k] - online[k]).norm()) for k in init)
    assert moved > 0 and gap_now < gap_init  # the target follows the online encoder
    ind = collapse_indicators(last.targets)
    lg = cfg.logging
    assert float(ind["std_tokens"]) > lg.floor_std_tokens, ind
    assert float(ind["std_samples"]) > lg.floor_std_samples, ind
    assert float(ind["eff_rank"]) > lg.floor_rank, ind


def test_momentum_one_freezes_the_target(tmp_path):
    _, init, model, _, _ = _train(tmp_path, 3, "[1.0,1.0]")
    for k, v in model.target_encoder.state_dict().items():
        assert torch.equal(v, init[k]), k
