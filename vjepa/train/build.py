"""The one builder: JEPA (encoder + predictor + loss) and mask collator from the typed config.

Training, `vjepa smoke`, the benchmarks and the tests all build through here, so what a recipe
says is what runs. Imports only the model, mask and JEPA modules (no Hydra, no decoders); it
works under `torch.device("meta")` (recipe checks and parameter counts without memory).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from vjepa.checkpoints.arch import EncoderArch, PredictorArch
from vjepa.jepa import JEPA
from vjepa.masks.collator import MaskCollator, MaskGenerator
from vjepa.masks.multiblock2d import MultiBlock2D
from vjepa.masks.multiblock3d import MultiBlock3D
from vjepa.models.predictor import Predictor
from vjepa.models.vit import VisionTransformer, vit_size
from vjepa.seeding import derive_seed
from vjepa.train.config import (
    Mask2DConfig,
    Mask3DConfig,
    MaskConfig,
    ModelConfig,
    OptimConfig,
    TrainConfig,
)
from vjepa.train.optim import build_optimizer
from vjepa.train.schedules import Schedules, make_schedules

# Sub-seeds derived from the run's seed, one per source of randomness.
DATA_ORDER, MASKS, INIT, WORKERS, GLOBALS = 1, 2, 3, 4, 5
PREDICTOR_MLP_RATIO = 4.0


def encoder_arch(m: ModelConfig) -> EncoderArch:
    """The encoder's architecture record of a `model` config (what `load_pretrained` builds a
    training checkpoint's encoder from)."""
    size = vit_size(m.size)
    return EncoderArch(**_geometry(m), embed_dim=m.embed_dim or size.embed_dim,
                       depth=m.depth or size.depth, num_heads=m.num_heads or size.num_heads,
                       mlp_ratio=size.mlp_ratio, qkv_bias=True, in_chans=3)


def predictor_arch(m: ModelConfig) -> PredictorArch:
    """The predictor's record: MLP ratio 4 at every encoder size, as the official predictors
    (the encoder's own ratio, 48/11 for ViT-g, would not load an official ViT-g checkpoint)."""
    size = vit_size(m.size)
    return PredictorArch(**_geometry(m), embed_dim=m.embed_dim or size.embed_dim,
                         predictor_embed_dim=m.pred_embed_dim, depth=m.pred_depth,
                         num_heads=m.num_heads or size.num_heads, mlp_ratio=PREDICTOR_MLP_RATIO,
                         qkv_bias=True, mask_token_layout=str(m.mask_token_layout),
                         num_mask_tokens=m.num_mask_tokens)


def build_encoder(m: ModelConfig) -> VisionTransformer:
    """The context encoder of a `model` config (the target encoder is its EMA copy)."""
    return encoder_arch(m).build(drop_path_rate=m.drop_path_rate)


def build_predictor(m: ModelConfig) -> Predictor:
    """The predictor of a `model` config (`predictor_arch` and the training-only options)."""
    return predictor_arch(m).build(drop_path_rate=m.drop_path_rate,
                                   zero_init_mask_tokens=m.zero_init_mask_tokens)


def _geometry(m: ModelConfig) -> dict[str, Any]:
    return dict(img_size=(m.crop_size, m.crop_size), patch_size=m.patch_size,
                num_frames=m.num_frames, tubelet_size=m.tubelet_size,
                uniform_power=m.uniform_power, pos_order=str(m.pos_order))


def build_jepa(m: ModelConfig) -> JEPA:
    """Encoder + predictor + loss of a `model` config."""
    return JEPA(build_encoder(m), build_predictor(m), m.loss_type, m.loss_exp)


def video_mask(mc: Mask3DConfig, grid: tuple[int, int, int]) -> MultiBlock3D:
    """The generator of one V-JEPA mask configuration."""
    return MultiBlock3D(grid, mc.num_blocks, tuple(mc.spatial_scale), tuple(mc.temporal_scale),
                        tuple(mc.aspect_ratio), mc.max_temporal_keep, mc.max_keep)


def image_mask(im: Mask2DConfig, grid: tuple[int, int]) -> MultiBlock2D:
    """The I-JEPA multi-block generator."""
    return MultiBlock2D(grid, tuple(im.enc_mask_scale), tuple(im.pred_mask_scale),
                        tuple(im.aspect_ratio), im.nenc, im.npred, im.min_keep, im.allow_overlap)


def mask_generators(mask: MaskConfig, grid: tuple[int, ...]) -> list[MaskGenerator]:
    """One generator per V-JEPA mask config (3-D grid), or the I-JEPA one (2-D grid)."""
    if len(grid) == 3:
        return [video_mask(mc, grid) for mc in mask.video]
    return [image_mask(mask.image, grid)]


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


def build_optim(model: JEPA, o: OptimConfig, ipe: int, fused: bool = False
                ) -> tuple[torch.optim.Optimizer, Schedules]:
    """AdamW over the encoder and predictor (`fused`: speed.fused_adamw resolved), and the
    lr / wd / EMA schedules of an `optim` config at `ipe` iterations per epoch."""
    optimizer = build_optimizer({"encoder": model.encoder, "predictor": model.predictor},
                                o.betas, o.eps, fused)
    schedules = make_schedules(ipe, o.epochs, o.ipe_scale, o.warmup, o.start_lr, o.lr,
                               o.final_lr, o.weight_decay, o.final_weight_decay, o.ema)
    return optimizer, schedules


def check_buildable(cfg: TrainConfig) -> None:
    """Build the config's JEPA and mask generators on the meta device (no memory, about a
    second for ViT-L) and draw one mask of each generator: the modules' own checks reject what
    cannot be built or drawn (geometry, widths, mask scales, blocks covering the whole grid, or
    empty on a small one), re-raised naming the config section."""
    m = cfg.model
    try:
        with torch.device("meta"):
            grid = build_jepa(m).encoder.tokens.grid
    except ValueError as err:
        raise ValueError(f"config model (crop_size={m.crop_size}, patch_size={m.patch_size}, "
                         f"num_frames={m.num_frames}, tubelet_size={m.tubelet_size}): {err}"
                         ) from err
    named = ([(f"mask.video[{i}]", video_mask, mc) for i, mc in enumerate(cfg.mask.video)]
             if len(grid) == 3 else [("mask.image", image_mask, cfg.mask.image)])
    for key, build, node in named:
        try:
            _, targets = build(node, grid)(1, torch.Generator().manual_seed(0))
            if any(t.shape[1] == 0 for t in targets):  # a block of size 0 on a small grid
                raise ValueError("drew an empty target mask; raise the mask scales")
        except ValueError as err:
            raise ValueError(f"config {key} on the token grid {grid}: {err}") from err
