"""Models, mask collator and data set from the (validated) config."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from vjepa.data.builder import build_dataset
from vjepa.data.decoders import DEFAULT_BACKEND
from vjepa.data.synthetic import make_synthetic_images, make_synthetic_videos
from vjepa.jepa import JEPA
from vjepa.masks.collator import MaskCollator
from vjepa.masks.multiblock2d import MultiBlock2D
from vjepa.masks.multiblock3d import MultiBlock3D
from vjepa.masks.seeding import derive_seed
from vjepa.models.predictor import Predictor
from vjepa.models.vit import VisionTransformer, vit_size
from vjepa.train.data import collate_untagged, synthetic_root

# Sub-seeds derived from the run's seed, one per source of randomness.
DATA_ORDER, MASKS, INIT, WORKERS, GLOBALS = 1, 2, 3, 4, 5


def build_jepa(m: Any) -> JEPA:
    """Encoder + predictor + JEPA of a `model` config node (works under torch.device('meta'))."""
    size = vit_size(m.size)
    dim = m.embed_dim or size.embed_dim
    heads = m.num_heads or size.num_heads
    geo = dict(img_size=m.crop_size, patch_size=m.patch_size, num_frames=m.num_frames,
               tubelet_size=m.tubelet_size, uniform_power=m.uniform_power, pos_order=m.pos_order)
    encoder = VisionTransformer(**geo, embed_dim=dim, depth=m.depth or size.depth,
                                num_heads=heads, mlp_ratio=size.mlp_ratio,
                                drop_path_rate=m.drop_path_rate)
    predictor = Predictor(**geo, embed_dim=dim, predictor_embed_dim=m.pred_embed_dim,
                          depth=m.pred_depth, num_heads=heads, mlp_ratio=size.mlp_ratio,
                          drop_path_rate=m.drop_path_rate,
                          mask_token_layout=m.mask_token_layout,
                          num_mask_tokens=m.num_mask_tokens,
                          zero_init_mask_tokens=m.zero_init_mask_tokens)
    return JEPA(encoder, predictor, m.loss_type, m.loss_exp)


def build_collator(mask: Any, grid: tuple[int, ...], seed: int, rank: int) -> MaskCollator:
    """One mask group per V-JEPA config (3-D grid) or the I-JEPA generator (2-D grid)."""
    if len(grid) == 3:
        gens = [MultiBlock3D(grid, mc.num_blocks, tuple(mc.spatial_scale),
                             tuple(mc.temporal_scale), tuple(mc.aspect_ratio),
                             mc.max_temporal_keep, mc.max_keep) for mc in mask.video]
    else:
        im = mask.image
        gens = [MultiBlock2D(grid, tuple(im.enc_mask_scale), tuple(im.pred_mask_scale),
                             tuple(im.aspect_ratio), im.nenc, im.npred, im.min_keep,
                             im.allow_overlap)]
    return MaskCollator(gens, seed=derive_seed(seed, MASKS, rank), collate=collate_untagged)


def data_sources(d: Any) -> list[str]:
    """The configured sources, or the synthetic set (built on first use) when none are given."""
    if d.sources:
        return [str(s) for s in d.sources]
    root = synthetic_root(d.cache_dir, d.kind, d.synthetic_num, d.synthetic_size,
                          d.synthetic_frames)
    workers = min(4, os.cpu_count() or 1)
    if d.kind == "video":
        index = make_synthetic_videos(root, num_videos=d.synthetic_num,
                                      num_frames=d.synthetic_frames, size=d.synthetic_size,
                                      num_workers=workers, progress=True)
    else:
        index = make_synthetic_images(root, num_images=d.synthetic_num, size=d.synthetic_size,
                                      num_workers=workers, progress=True)
    return [str(Path(index))]


def build_train_dataset(cfg: Any, sources: list[str]) -> Any:
    """The training VideoDataset / ImageDataset of the config."""
    d, m = cfg.data, cfg.model
    video = d.kind == "video"
    extra = dict(frames_per_clip=m.num_frames, frame_step=d.frame_step, num_clips=d.num_clips,
                 short_policy=d.short_policy, backend=d.decoder or DEFAULT_BACKEND) if video else {}
    return build_dataset(
        d.kind, sources, training=True, weights=d.weights, crop_size=m.crop_size,
        scale=tuple(d.random_resize_scale), ratio=tuple(d.random_resize_aspect_ratio),
        hflip=d.horizontal_flip, timeout_s=d.timeout_s, seed=cfg.seed, **extra,
    )
