"""The official training step (facebookresearch/jepa for video, /ijepa for images), built from
a checkout of that repository for a timing side by side with ours.

Nothing of the official code is copied here: its modules are imported from the checkout
(`--official DIR`), and the step calls them in the order of the official `train_step` (target
forward + layer norm, context encoder, predictor, loss, GradScaler under bf16, clipping,
AdamW, the official gradient / moment loggers and EMA loop, `float(loss)`), with the widths of
the recipe, the same input batch and the same masks. Clipping is on (the official clips after
warm-up, i.e. for most of training).
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import sys
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from vjepa.jepa import JEPA

DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": None}


@contextlib.contextmanager
def official_imports(root: Path):  # noqa: ANN201 (a context manager)
    """Import the checkout's `src` / `app` packages; forget them afterwards (both official
    repositories name their package `src`)."""
    def forget() -> None:
        for name in [n for n in sys.modules if n.split(".")[0] in ("src", "app")]:
            del sys.modules[name]
    forget()
    sys.path.insert(0, str(root))
    try:
        yield
    finally:
        sys.path.remove(str(root))
        forget()


def widths(model: JEPA) -> dict[str, Any]:
    """Our built model's architecture, for the official constructors."""
    enc, pred = model.encoder, model.predictor
    blk = enc.blocks[0]
    return dict(embed_dim=enc.embed_dim, depth=len(enc.blocks), num_heads=enc.num_heads,
                mlp_ratio=blk.mlp.fc1.out_features / enc.embed_dim,
                pred_dim=pred.predictor_embed.out_features, pred_depth=len(pred.predictor_blocks))


def _optimizer(encoder: nn.Module, predictor: nn.Module, cfg: Any, init_opt: Callable,
               **extra: Any) -> tuple:
    o = cfg.optim
    return init_opt(encoder=encoder, predictor=predictor, iterations_per_epoch=o.ipe or 300,
                    start_lr=o.start_lr, ref_lr=o.lr, warmup=o.warmup, num_epochs=o.epochs,
                    wd=o.weight_decay, final_wd=o.final_weight_decay, final_lr=o.final_lr,
                    ipe_scale=o.ipe_scale, **extra)


def vjepa_step(root: Path, model: JEPA, cfg: Any, device: torch.device, dtype: str,
               momentum: Iterator[float] | None = None, clip_from: int = 0
               ) -> Callable[[torch.Tensor, list, list], float]:
    """The official V-JEPA step as a function of (clips, masks_enc, masks_pred) in our
    collator's layout (per group a list of one [B, K] mask). `momentum`: the EMA momentum of
    each step (the official schedule; default the fixed `optim.ema[0]`, enough for timing);
    `clip_from`: the first step that clips (the official loop clips once the warmup epochs
    are over). The official target encoder is the step's `target_encoder` attribute."""
    with official_imports(root):
        from app.vjepa.utils import init_opt
        from src.masks.utils import apply_masks
        from src.models import predictor as vit_pred
        from src.models import vision_transformer as video_vit
        from src.models.utils.multimask import MultiMaskWrapper, PredictorMultiMaskWrapper
        from src.utils.logging import adamw_logger, grad_logger
    w, m = widths(model), cfg.model
    geo = dict(img_size=m.crop_size, patch_size=m.patch_size, num_frames=m.num_frames,
               tubelet_size=m.tubelet_size, uniform_power=m.uniform_power, use_sdpa=True)
    norm = partial(nn.LayerNorm, eps=1e-6)
    encoder = MultiMaskWrapper(video_vit.VisionTransformer(
        **geo, embed_dim=w["embed_dim"], depth=w["depth"], num_heads=w["num_heads"],
        mlp_ratio=w["mlp_ratio"], qkv_bias=True, norm_layer=norm)).to(device)
    predictor = PredictorMultiMaskWrapper(vit_pred.VisionTransformerPredictor(
        **geo, embed_dim=w["embed_dim"], predictor_embed_dim=w["pred_dim"],
        depth=w["pred_depth"], num_heads=w["num_heads"], qkv_bias=True, norm_layer=norm,
        use_mask_tokens=True, num_mask_tokens=m.num_mask_tokens,
        zero_init_mask_tokens=m.zero_init_mask_tokens)).to(device)
    target = copy.deepcopy(encoder)
    for p in target.parameters():
        p.requires_grad_(False)
    mixed = DTYPES[dtype] is not None
    optimizer, scaler, scheduler, wd_scheduler = _optimizer(
        encoder, predictor, cfg, init_opt, mixed_precision=mixed,
        betas=tuple(cfg.optim.betas), eps=cfg.optim.eps)
    clip, exp = cfg.optim.clip_grad, m.loss_exp
    momentum = momentum if momentum is not None else itertools.repeat(cfg.optim.ema[0])
    count = itertools.count()

    def step(x: torch.Tensor, masks_enc: list, masks_pred: list) -> float:
        menc, mpred = [g[0] for g in masks_enc], [g[0] for g in masks_pred]
        clipping = clip if next(count) >= clip_from else None
        scheduler.step()
        wd_scheduler.step()
        with torch.autocast(device.type, dtype=DTYPES[dtype] or torch.float32, enabled=mixed):
            with torch.no_grad():
                h = target(x)
                h = apply_masks(F.layer_norm(h, (h.size(-1),)), mpred, concat=False)
            z = predictor(encoder(x, menc), h, menc, mpred)
            loss = sum(torch.mean(torch.abs(zi - hi) ** exp) / exp for zi, hi in
                       zip(z, h, strict=True)) / len(mpred)
            spread = sum(torch.sqrt(zi.var(dim=1) + 0.0001) for zi in z) / len(z)
            loss_reg = torch.mean(F.relu(1.0 - spread))
        loss = loss + 0.0 * loss_reg  # reg_coeff 0 in the published recipes
        _backward_and_step(loss, scaler, optimizer, [encoder, predictor], clipping)
        grad_logger(encoder.named_parameters())
        grad_logger(predictor.named_parameters())
        optimizer.zero_grad()
        adamw_logger(optimizer)
        _ema(encoder, target, next(momentum))
        return float(loss)

    step.target_encoder = target  # type: ignore[attr-defined]
    return step


def _backward_and_step(loss: torch.Tensor, scaler: Any, optimizer: torch.optim.Optimizer,
                       modules: list[nn.Module], clip: float | None) -> None:
    if scaler is not None and scaler.is_enabled():
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
    else:
        loss.backward()
    if clip is not None:
        for module in modules:
            torch.nn.utils.clip_grad_norm_(module.parameters(), clip)
    if scaler is not None and scaler.is_enabled():
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()


def _ema(encoder: nn.Module, target: nn.Module, m: float) -> None:
    """The official per-parameter EMA loop."""
    with torch.no_grad():
        for q, k in zip(encoder.parameters(), target.parameters(), strict=True):
            k.data.mul_(m).add_((1.0 - m) * q.detach().data)


def ijepa_step(root: Path, model: JEPA, cfg: Any, device: torch.device, dtype: str
               ) -> Callable[[torch.Tensor, list, list], float]:
    """The official I-JEPA step as a function of (images, masks_enc, masks_pred) in our
    collator's layout (one group: lists of [B, K] masks)."""
    with official_imports(root):
        from src.helper import init_opt
        from src.masks.utils import apply_masks
        from src.models import vision_transformer as vit
        from src.utils.logging import grad_logger
        from src.utils.tensors import repeat_interleave_batch
    w, m = widths(model), cfg.model
    norm = partial(nn.LayerNorm, eps=1e-6)
    encoder = vit.VisionTransformer(
        img_size=[m.crop_size], patch_size=m.patch_size, embed_dim=w["embed_dim"],
        depth=w["depth"], num_heads=w["num_heads"], mlp_ratio=w["mlp_ratio"], qkv_bias=True,
        norm_layer=norm).to(device)
    predictor = vit.VisionTransformerPredictor(
        num_patches=encoder.patch_embed.num_patches, embed_dim=w["embed_dim"],
        predictor_embed_dim=w["pred_dim"], depth=w["pred_depth"], num_heads=w["num_heads"],
        qkv_bias=True, norm_layer=norm).to(device)
    target = copy.deepcopy(encoder)
    for p in target.parameters():
        p.requires_grad_(False)
    bf16 = dtype == "bfloat16"
    optimizer, scaler, scheduler, wd_scheduler = _optimizer(
        encoder, predictor, cfg, init_opt, use_bfloat16=bf16)
    clip, ema = cfg.optim.clip_grad, cfg.optim.ema[0]

    def step(x: torch.Tensor, masks_enc: list, masks_pred: list) -> float:
        (menc,), (mpred,) = masks_enc, masks_pred
        scheduler.step()
        wd_scheduler.step()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            with torch.no_grad():
                h = target(x)
                h = F.layer_norm(h, (h.size(-1),))
                h = repeat_interleave_batch(apply_masks(h, mpred), len(h), repeat=len(menc))
            z = predictor(encoder(x, menc), menc, mpred)
            loss = F.smooth_l1_loss(z, h)
        _backward_and_step(loss, scaler, optimizer, [encoder, predictor], clip)
        grad_logger(encoder.named_parameters())
        optimizer.zero_grad()
        _ema(encoder, target, ema)
        return float(loss)

    return step
