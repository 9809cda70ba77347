"""One optimizer step: micro-batches (gradient accumulation), autocast, scaler, clipping, skip
on a non-finite loss or gradient norm (of either module), EMA.

With a fused AdamW (speed.fused_adamw) and no GradScaler the step reads nothing back to the
host: the skip is decided on the device (the fused kernel's `found_inf` flag leaves parameters,
moments and step counts untouched; the EMA runs with momentum 1) and `StepResult.finite` is a
device flag that the loop reads every logging.log_every steps. Otherwise the finite check is the
step's one host read."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
from torch import nn

from vjepa.distributed import all_reduce_mean
from vjepa.jepa import JEPA
from vjepa.train.optim import is_fused

AUTOCAST_DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": None}


@dataclass
class StepResult:
    loss: torch.Tensor  # mean over micro-batches and ranks (0-d, device)
    finite: bool | torch.Tensor  # a 0-d bool device tensor when the skip ran on the device
    grad_norm_encoder: torch.Tensor
    grad_norm_predictor: torch.Tensor
    targets: torch.Tensor  # [B, N, D] target features of the last micro-batch
    num_context: int
    num_target: int


def autocast(device: torch.device, dtype: str) -> contextlib.AbstractContextManager:
    if dtype not in AUTOCAST_DTYPES:
        raise ValueError(f"dtype must be one of {sorted(AUTOCAST_DTYPES)}, got {dtype!r}")
    if AUTOCAST_DTYPES[dtype] is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=AUTOCAST_DTYPES[dtype])


def to_device(
    batch: dict, masks_enc: list, masks_pred: list, device: torch.device
) -> tuple[torch.Tensor, list, list]:
    """Clips and masks on the device, the V clips of each sample folded into the batch.

    `batch["video"]` is [B, V, C, T, H, W]; the model gets [V * B, C, T, H, W] in clip-major
    order (row c * B + b is clip c of sample b) and every [B, K] mask repeated V times, so all
    clips of a sample share its masks (the official loop's order)."""
    video = batch["video"]
    clips = video.shape[1]
    x = video[:, 0] if clips == 1 else video.transpose(0, 1).flatten(0, 1)
    x = x.to(device, non_blocking=True)

    def fold(groups: list) -> list:
        return [[m.to(device, non_blocking=True).repeat(clips, 1) if clips > 1 else
                 m.to(device, non_blocking=True) for m in grp] for grp in groups]

    return x, fold(masks_enc), fold(masks_pred)


def grad_norm(module: nn.Module, max_norm: float | None) -> torch.Tensor:
    """Total gradient norm of a module, clipped to max_norm when given (official clip)."""
    params = [p for p in module.parameters() if p.grad is not None]
    if not params:
        return torch.zeros(())
    return torch.nn.utils.clip_grad_norm_(params, max_norm if max_norm is not None else
                                          float("inf"))


def optimizer_step(
    model: JEPA,
    forward: nn.Module,
    micro_batches: list[tuple[dict, list, list]],
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler | None,
    device: torch.device,
    dtype: str,
    clip_grad: float | None,
    momentum: float,
) -> StepResult:
    """Forward/backward over the micro-batches, then step + EMA unless the loss is non-finite.

    Args:
        model: the JEPA (for parameters and the EMA update).
        forward: what to call for the loss: `model`, or its DistributedDataParallel wrapper.
        clip_grad: max norm per module (encoder, predictor), None = no clipping.
    """
    accum = len(micro_batches)
    loss_sum = torch.zeros((), device=device)
    for i, (batch, masks_enc, masks_pred) in enumerate(micro_batches):
        x, enc, pred = to_device(batch, masks_enc, masks_pred, device)
        sync = i == accum - 1 or not hasattr(forward, "no_sync")
        with (contextlib.nullcontext() if sync else forward.no_sync()), autocast(device, dtype):
            out = forward(x, enc, pred)
        loss = out.loss / accum
        (scaler.scale(loss) if scaler is not None else loss).backward()
        loss_sum += out.loss.detach()
    loss_mean = all_reduce_mean(loss_sum / accum)
    if scaler is not None:
        scaler.unscale_(optimizer)
    norms = (grad_norm(model.encoder, clip_grad), grad_norm(model.predictor, clip_grad))
    ok = torch.isfinite(loss_mean)
    if scaler is None:  # with a scaler, inf/NaN gradients are its overflow skips
        ok = ok & torch.isfinite(norms[0]) & torch.isfinite(norms[1])
    if scaler is None and is_fused(optimizer):
        finite: bool | torch.Tensor = ok
        step_on_device(model, optimizer, ok, momentum)
    else:
        finite = bool(ok)  # the one host read of a step
        step_on_host(model, optimizer, scaler, finite, momentum)
    optimizer.zero_grad(set_to_none=True)
    return StepResult(loss_mean, finite, *norms, out.targets, out.num_context, out.num_target)


def step_on_host(model: JEPA, optimizer: torch.optim.Optimizer,
                 scaler: torch.amp.GradScaler | None, finite: bool, momentum: float) -> None:
    """Update and EMA if `finite`; else nothing (closing the scaler's iteration)."""
    if finite:
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
        model.update_target(momentum)
    elif scaler is not None:  # unscale_ was called: close this scaler iteration, back off
        scaler.update(scaler.get_scale() * scaler.get_backoff_factor())


def step_on_device(model: JEPA, optimizer: torch.optim.Optimizer, ok: torch.Tensor,
                   momentum: float) -> None:
    """Fused AdamW + EMA, both no-ops where the device flag `ok` is false, without a host
    read: the fused kernel skips on `found_inf` (as under a GradScaler), the EMA momentum is 1
    on a skipped step."""
    optimizer.found_inf = (~ok).float()
    try:
        optimizer.step()
    finally:
        del optimizer.found_inf
    model.update_target(momentum, apply=ok)
