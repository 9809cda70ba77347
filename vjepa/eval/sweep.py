"""Several probes ("heads") with their own lr x wd trained on one shared frozen forward.

    sweep = ProbeSweep(ProbeSpec("attentive"), dim=1024, num_classes=400,
                       heads=grid(lrs=[1e-3, 3e-4], wds=[0.01, 0.1]), total_steps=20 * ipe)
    for x, y in batches:                  # x: [B, V, N, D] features, computed once per batch
        losses = sweep.train_step(x, y)   # one optimiser step of every head
    probs = sweep.predict(x_test)         # [H, B, C] softmax averaged over the views

Heads never share a parameter or an optimiser, so head h of a sweep follows exactly the path of
a probe trained alone with the same config, init seed and batches (tested). Every head starts
from the same initial weights (`init_seed`), so heads differ only by their optimisation.
Schedules are the official ones (vjepa.train.schedules): lr linear warmup then cosine to
final_lr, wd cosine to final_wd, stepped before each iteration.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from vjepa.eval.probes import ProbeSpec, build_probe, with_views
from vjepa.train.optim import apply_schedule, is_decayed
from vjepa.train.schedules import Schedules


@dataclass(frozen=True)
class HeadConfig:
    """One head's optimisation (official V-JEPA K400: lr 1e-3 -> 0, wd 0.01 -> 1e-6)."""

    lr: float = 1e-3
    weight_decay: float = 0.01
    final_lr: float = 0.0
    final_weight_decay: float = 1e-6
    start_lr: float | None = None  # None: = lr
    warmup_steps: int = 0

    def label(self) -> str:
        return f"lr{self.lr:g}_wd{self.weight_decay:g}"


def grid(lrs: Sequence[float], wds: Sequence[float], final_wd: float | None = None,
         final_lr: float = 0.0) -> list[HeadConfig]:
    """lr x wd heads, wd-major like V-JEPA 2's list; final_wd None keeps each head's wd
    constant (V-JEPA 2's recipes), a number anneals every head to it."""
    return [HeadConfig(lr=lr, weight_decay=wd, final_lr=final_lr,
                       final_weight_decay=wd if final_wd is None else final_wd)
            for wd in wds for lr in lrs]


def _optimizer(probe: nn.Module, exclude_bias_wd: bool) -> torch.optim.AdamW:
    if not exclude_bias_wd:  # V-JEPA 2: one group, decay on everything
        return torch.optim.AdamW([{"params": list(probe.parameters())}])
    decay = [p for n, p in probe.named_parameters() if is_decayed(n, p)]
    rest = [p for n, p in probe.named_parameters() if not is_decayed(n, p)]
    return torch.optim.AdamW([{"params": decay},
                              {"params": rest, "weight_decay": 0.0, "wd_exclude": True}])


def _schedule(cfg: HeadConfig, total_steps: int) -> Schedules:
    return Schedules(warmup_steps=cfg.warmup_steps, total_steps=total_steps, momentum_steps=1.0,
                     start_lr=cfg.lr if cfg.start_lr is None else cfg.start_lr, ref_lr=cfg.lr,
                     final_lr=cfg.final_lr, ref_wd=cfg.weight_decay,
                     final_wd=cfg.final_weight_decay, ema_start=0.0, ema_end=0.0)


class ProbeSweep(nn.Module):
    """N heads (`self.heads[h]`), each with its own AdamW and schedules.

    Args:
        total_steps: cosine horizon (official: epochs x iterations per epoch).
        clip_grad: per-head gradient-norm clip (V-JEPA 1: 1.0; V-JEPA 2: None).
        exclude_bias_wd: no weight decay on biases / 1-D tensors (V-JEPA 1; V-JEPA 2: False).
        bf16: bfloat16 autocast for the probe forward on CUDA (our flag means bf16).
        grad_sync: called with each head after its backward (distributed: average the
            gradients over ranks), before clipping.
    """

    def __init__(self, spec: ProbeSpec, dim: int, num_classes: int,
                 heads: Sequence[HeadConfig], total_steps: int, init_seed: int = 0,
                 clip_grad: float | None = 1.0, exclude_bias_wd: bool = True,
                 bf16: bool = True, grad_sync: Callable[[nn.Module], None] | None = None
                 ) -> None:
        super().__init__()
        if not heads:
            raise ValueError("a sweep needs at least one head config")
        self.spec, self.configs, self.num_classes = spec, list(heads), num_classes
        self.heads = nn.ModuleList(build_probe(spec, dim, num_classes, init_seed) for _ in heads)
        self.optimizers = [_optimizer(h, exclude_bias_wd) for h in self.heads]
        self.schedules = [_schedule(c, total_steps) for c in heads]
        self.clip_grad, self.bf16, self.step, self.grad_sync = clip_grad, bf16, 0, grad_sync

    def _logits(self, head: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """[B, V, *item] -> [B, V, C] float32."""
        b, v = x.shape[:2]
        cuda = x.device.type == "cuda" and self.bf16
        with torch.autocast("cuda", dtype=torch.bfloat16) if cuda else nullcontext():
            out = head(x.flatten(0, 1))
        return out.float().reshape(b, v, -1)

    def train_step(self, x: torch.Tensor, y: torch.Tensor) -> list[float]:
        """One step of every head on features `x` and labels `y` [B]; the heads' losses. An
        empty batch (a rank whose items all failed) steps with zero gradients."""
        x = with_views(x, self.spec.item_dims)
        self.train()
        losses = []
        for head, opt, sched in zip(self.heads, self.optimizers, self.schedules, strict=True):
            apply_schedule(opt, sched.lr(self.step), sched.wd(self.step))
            logits = self._logits(head, x)  # loss: mean over views of the cross-entropy
            if len(y):
                loss = F.cross_entropy(logits.flatten(0, 1), y.repeat_interleave(x.shape[1]))
            else:
                loss = sum(p.sum() for p in head.parameters()) * 0.0
            loss.backward()
            if self.grad_sync is not None:
                self.grad_sync(head)
            if self.clip_grad is not None:
                nn.utils.clip_grad_norm_(head.parameters(), self.clip_grad)
            opt.step()
            opt.zero_grad(set_to_none=True)
            losses.append(float(loss.detach()))
        self.step += 1
        return losses

    @torch.inference_mode()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """[H, B, C] class probabilities: each view's softmax, averaged over the views."""
        x = with_views(x, self.spec.item_dims)
        self.eval()
        return torch.stack([self._logits(h, x).softmax(-1).mean(1) for h in self.heads])

    def labels(self) -> list[str]:
        return [c.label() for c in self.configs]

    def checkpoint(self) -> dict:
        """Everything to resume: heads, optimisers, step, configs."""
        return {"heads": [h.state_dict() for h in self.heads], "step": self.step,
                "optimizers": [o.state_dict() for o in self.optimizers],
                "configs": [asdict(c) for c in self.configs]}

    def restore(self, state: dict) -> None:
        if state["configs"] != [asdict(c) for c in self.configs]:
            raise ValueError(f"checkpoint heads {state['configs']} differ from this sweep's "
                             f"{[asdict(c) for c in self.configs]}")
        for head, sd in zip(self.heads, state["heads"], strict=True):
            head.load_state_dict(sd, strict=True)
        for opt, sd in zip(self.optimizers, state["optimizers"], strict=True):
            opt.load_state_dict(sd)
        self.step = int(state["step"])
