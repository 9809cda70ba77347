"""The one builder: JEPA (encoder + predictor + loss) and mask collator from the typed config.

Training, `vjepa smoke`, the benchmarks and the tests all build through here, so what a recipe
says is what runs. Imports only the model, mask and JEPA modules (no Hydra, no decoders); it
works under `torch.device("meta")` (recipe checks and parameter counts without memory).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from vjepa.jepa import JEPA
from vjepa.masks.collator import MaskCollator, MaskGenerator
from vjepa.masks.multiblock2d import MultiBlock2D
from vjepa.masks.multiblock3d import MultiBlock3D
from vjepa.masks.seeding import derive_seed
from vjepa.models.predictor import Predictor
from vjepa.models.vit import VisionTransformer, vit_size
from vjepa.train.config import MaskConfig, ModelConfig, OptimConfig, TrainConfig
from vjepa.train.optim import build_optimizer
from vjepa.train.schedules import Schedules, make_schedules

# Sub-seeds derived from the run's seed, one per source of randomness.
DATA_ORDER, MASKS, INIT, WORKERS, GLOBALS = 1, 2, 3, 4, 5
PREDICTOR_MLP_RATIO = 4.0


def build_encoder(m: ModelConfig) -> VisionTransformer:
    """The context encoder of a `model` config (the target encoder is its EMA copy)."""
    size = vit_size(m.size)
    return VisionTransformer(**_geometry(m), embed_dim=m.embed_dim or size.embed_dim,
                             depth=m.depth or size.depth, num_heads=m.num_heads or size.num_heads,
                             mlp_ratio=size.mlp_ratio, drop_path_rate=m.drop_path_rate)


def build_predictor(m: ModelConfig) -> Predictor:
    """The predictor: MLP ratio 4 at every encoder size, as the official predictors (the
    encoder's own ratio, 48/11 for ViT-g, would not load an official ViT-g checkpoint)."""
    size = vit_size(m.size)
    return Predictor(**_geometry(m), embed_dim=m.embed_dim or size.embed_dim,
                     predictor_embed_dim=m.pred_embed_dim, depth=m.pred_depth,
                     num_heads=m.num_heads or size.num_heads, mlp_ratio=PREDICTOR_MLP_RATIO,
                     drop_path_rate=m.drop_path_rate, mask_token_layout=m.mask_token_layout,
                     num_mask_tokens=m.num_mask_tokens,
                     zero_init_mask_tokens=m.zero_init_mask_tokens)


def _geometry(m: ModelConfig) -> dict[str, Any]:
    return dict(img_size=m.crop_size, patch_size=m.patch_size, num_frames=m.num_frames,
                tubelet_size=m.tubelet_size, uniform_power=m.uniform_power,
                pos_order=m.pos_order)


def build_jepa(m: ModelConfig) -> JEPA:
    """Encoder + predictor + loss of a `model` config."""
    return JEPA(build_encoder(m), build_predictor(m), m.loss_type, m.loss_exp)


def mask_generators(mask: MaskConfig, grid: tuple[int, ...]) -> list[MaskGenerator]:
    """One generator per V-JEPA mask config (3-D grid), or the I-JEPA one (2-D grid)."""
    if len(grid) == 3:
        return [MultiBlock3D(grid, mc.num_blocks, tuple(mc.spatial_scale),
                             tuple(mc.temporal_scale), tuple(mc.aspect_ratio),
                             mc.max_temporal_keep, mc.max_keep) for mc in mask.video]
    im = mask.image
    return [MultiBlock2D(grid, tuple(im.enc_mask_scale), tuple(im.pred_mask_scale),
                         tuple(im.aspect_ratio), im.nenc, im.npred, im.min_keep,
                         im.allow_overlap)]


def build_collator(mask: MaskConfig, grid: tuple[int, ...], seed: int, rank: int = 0,
                   collate: Callable[[list[Any]], Any] | None = None) -> MaskCollator:
    """The mask collator of a run: masks seeded from (run seed, rank, step)."""
    extra = {} if collate is None else {"collate": collate}
    return MaskCollator(mask_generators(mask, grid), seed=derive_seed(seed, MASKS, rank), **extra)


def build_core(cfg: TrainConfig, rank: int = 0,
               collate: Callable[[list[Any]], Any] | None = None) -> tuple[JEPA, MaskCollator]:
    """The JEPA and the mask collator of a whole (validated) training config."""
    model = build_jepa(cfg.model)
    return model, build_collator(cfg.mask, model.encoder.tokens.grid, cfg.seed, rank, collate)


def build_optim(model: JEPA, o: OptimConfig, ipe: int) -> tuple[torch.optim.Optimizer, Schedules]:
    """AdamW over the encoder and predictor, and the lr / wd / EMA schedules of an `optim`
    config at `ipe` iterations per epoch."""
    optimizer = build_optimizer({"encoder": model.encoder, "predictor": model.predictor},
                                o.betas, o.eps)
    schedules = make_schedules(ipe, o.epochs, o.ipe_scale, o.warmup, o.start_lr, o.lr,
                               o.final_lr, o.weight_decay, o.final_weight_decay, o.ema)
    return optimizer, schedules
