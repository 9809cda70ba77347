"""Throughput of the training step: FLOPs per step (torch.utils.flop_counter, counted once per
block shape), the card's bf16 dense peak (MFU), and compute time measured with CUDA events.

A step's FLOPs are those of the math (the per-group path, as the official code runs it),
whatever the speed levers do: padding added by speed.pack is not counted as useful work. The
counter runs on the meta device over one block (or the patch embedding) per sequence length and
scales by the rows: exact for the blocks, which are linear in the batch; the predictor's embed
and projection are added in closed form. Attention and matmuls are counted, norms are not
(torch's counter).
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode

from vjepa.jepa import JEPA
from vjepa.models.vit import make_blocks

# bf16 dense peak TFLOP/s by card name (first match wins: more specific names first).
PEAK_BF16_TFLOPS: tuple[tuple[str, float], ...] = (
    ("H100 PCIe", 756.0), ("H100 NVL", 835.0), ("GH200", 989.4), ("H100", 989.4),
    ("H200", 989.4), ("H800", 989.4), ("B200", 2250.0), ("A100", 312.0), ("L40S", 362.1),
    ("A10G", 70.0), ("A10", 125.0), ("L4", 121.0),
)


def peak_tflops(device: torch.device) -> float:
    """The bf16 dense peak of the device's card, NaN on the CPU or an unknown card."""
    if device.type != "cuda":
        return math.nan
    name = torch.cuda.get_device_name(device)
    return next((peak for key, peak in PEAK_BF16_TFLOPS if key in name), math.nan)


def counted(fn: callable) -> int:  # type: ignore[valid-type]
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


class StepFlops:
    """FLOPs (forward + backward) of one training step of a JEPA for given input and mask
    shapes; per-shape counts are cached, so a call costs dictionary look-ups."""

    def __init__(self, model: JEPA) -> None:
        enc, pred = model.encoder, model.predictor
        self.depth, self.pred_depth = len(enc.blocks), len(pred.predictor_blocks)
        self.dim, self.pred_dim = enc.embed_dim, pred.predictor_embed.out_features
        with torch.device("meta"):
            self.blocks = {"enc": self._one_block(enc.blocks[0], self.dim),
                           "pred": self._one_block(pred.predictor_blocks[0], self.pred_dim)}
        self.patch = copy.deepcopy(enc.patch_embed).to("meta")
        self.cache: dict[tuple, int] = {}

    @staticmethod
    def _one_block(like: torch.nn.Module, dim: int) -> torch.nn.Module:
        ratio = like.mlp.fc1.out_features / dim
        return make_blocks(dim, 1, like.attn.num_heads, ratio, like.attn.qkv.bias is not None,
                           0.0)[0]

    def block(self, kind: str, length: int, train: bool) -> int:
        """FLOPs of one block on one row of `length` tokens (forward, + backward if train)."""
        key = (kind, length, train)
        if key not in self.cache:
            dim = self.dim if kind == "enc" else self.pred_dim
            x = torch.empty(1, length, dim, device="meta", requires_grad=train)

            def run() -> None:
                out = self.blocks[kind](x)
                if train:
                    out.sum().backward()
            self.cache[key] = counted(run)
        return self.cache[key]

    def patch_embed(self, shape: tuple[int, ...]) -> int:
        """Forward FLOPs of the patch embedding of one sample (its backward, weights only
        since the input needs no gradient, is as many)."""
        key = ("patch", tuple(shape[1:]))
        if key not in self.cache:
            x = torch.empty(1, *shape[1:], device="meta")
            self.cache[key] = counted(lambda: self.patch(x))
        return self.cache[key]

    def __call__(self, shape: tuple[int, ...], num_tokens: int,
                 masks_enc: list[list[tuple[int, int]]],
                 masks_pred: list[list[tuple[int, int]]]) -> int:
        """Args: shape of the model input [B, C, (T,) H, W]; tokens per sample; per group
        the [B, K] shapes of the context and target masks."""
        rows = shape[0]
        patch = self.patch_embed(shape) * rows
        total = patch + rows * self.depth * self.block("enc", num_tokens, False)  # target
        for enc, pred in zip(masks_enc, masks_pred, strict=True):
            n_ctx, n_tgt, n_enc = enc[0][1], pred[0][1], len(enc)
            total += 2 * patch + n_enc * rows * self.depth * self.block("enc", n_ctx, True)
            r_pred = len(pred) * n_enc * rows
            total += r_pred * self.pred_depth * self.block("pred", n_ctx + n_tgt, True)
            linear = 2 * self.dim * self.pred_dim * 3  # forward + both backward products
            total += linear * (n_enc * rows * n_ctx + r_pred * n_tgt)  # embed, projection
        return total


def mask_shapes(masks: list[list[torch.Tensor]], repeat: int = 1) -> list[list[tuple[int, int]]]:
    return [[(m.shape[0] * repeat, m.shape[1]) for m in grp] for grp in masks]


class StepClock:
    """Compute time of steps: CUDA events on a GPU (read when asked: one wait for the last
    event), host time elsewhere."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        self.pairs: list[tuple[torch.cuda.Event, torch.cuda.Event]] = []
        self.host_s = 0.0
        self._t0 = 0.0

    def start(self) -> None:
        if self.cuda:
            self.pairs.append((torch.cuda.Event(enable_timing=True),
                               torch.cuda.Event(enable_timing=True)))
            self.pairs[-1][0].record()
        else:
            self._t0 = time.perf_counter()

    def stop(self) -> None:
        if self.cuda:
            self.pairs[-1][1].record()
        else:
            self.host_s += time.perf_counter() - self._t0

    def read_s(self) -> float:
        """Seconds of compute since the last read."""
        if self.cuda and self.pairs:
            self.pairs[-1][1].synchronize()
            total = sum(a.elapsed_time(b) for a, b in self.pairs) / 1e3
            self.pairs.clear()
            return total
        total, self.host_s = self.host_s, 0.0
        return total


@dataclass
class ThroughputWindow:
    """The throughput columns of one metric row: compute time and FLOPs of the steps since the
    last row (`flops` None: FLOP columns NaN)."""

    flops: StepFlops | None
    clock: StepClock
    steps: int = 0
    total_flops: float = 0.0

    def add_step(self, model: JEPA, micro: list) -> None:
        """Count one finished step of (batch, masks_enc, masks_pred) micro-batches."""
        self.steps += 1
        self.total_flops += sum(self.micro_flops(model, b, enc, pred) for b, enc, pred in micro)

    def micro_flops(self, model: JEPA, batch: dict, masks_enc: list, masks_pred: list) -> float:
        """FLOPs of one micro-batch (the V clips of a sample folded into the batch)."""
        if self.flops is None:
            return math.nan
        video = batch["video"]
        clips = video.shape[1]
        shape = (video.shape[0] * clips, *video.shape[2:])
        if not model.encoder.tokens.is_video and len(shape) == 5:
            shape = (shape[0], shape[1], *shape[3:])
        return float(self.flops(shape, model.encoder.num_patches,
                                mask_shapes(masks_enc, clips), mask_shapes(masks_pred, clips)))

    def read(self, window_s: float, device: torch.device) -> dict[str, float]:
        """Mean compute seconds per step (CUDA events on a GPU), TFLOP per step, achieved
        TFLOP/s over the wall time, MFU; starts the next window."""
        steps = max(self.steps, 1)
        tflops = self.total_flops / window_s / 1e12 if window_s > 0 else math.nan
        out = {"compute_s": self.clock.read_s() / steps, "tflop_step": self.total_flops / steps
               / 1e12, "tflops": tflops, "mfu": tflops / peak_tflops(device)}
        self.steps, self.total_flops = 0, 0.0
        return out
