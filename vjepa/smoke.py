"""`vjepa smoke`: one JEPA forward/backward on random data, image and video (install check)."""

from __future__ import annotations

import argparse

import torch

from vjepa.jepa import JEPA
from vjepa.masks.collator import MaskCollator
from vjepa.masks.multiblock2d import MultiBlock2D
from vjepa.masks.multiblock3d import MultiBlock3D
from vjepa.models.predictor import Predictor
from vjepa.models.vit import VisionTransformer


def tiny_jepa(num_frames: int, img_size: int = 64, patch: int = 8) -> tuple[JEPA, MaskCollator]:
    """A tiny I-JEPA (num_frames == 1) or V-JEPA model with its mask collator."""
    geo = dict(img_size=img_size, patch_size=patch, num_frames=num_frames, tubelet_size=2)
    video = num_frames > 1
    enc = VisionTransformer(**geo, embed_dim=96, depth=2, num_heads=3, uniform_power=video,
                            pos_order="hw" if video else "wh")
    pred = Predictor(**geo, embed_dim=96, predictor_embed_dim=48, depth=2, num_heads=3,
                     uniform_power=video, pos_order="hw" if video else "wh",
                     mask_token_layout="per_config" if video else "single")
    grid = enc.tokens.grid
    if video:
        gens = [MultiBlock3D(grid, 8, (0.15, 0.15)), MultiBlock3D(grid, 2, (0.7, 0.7))]
    else:
        gens = [MultiBlock2D(grid, min_keep=4)]
    return JEPA(enc, pred, "l1" if video else "smooth_l1"), MaskCollator(gens)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="vjepa smoke", description=__doc__)
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    for name, frames in (("I-JEPA (image)", 1), ("V-JEPA (video)", 4)):
        model, collator = tiny_jepa(frames)
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
        shape = (4, 3, frames, 64, 64) if frames > 1 else (4, 3, 64, 64)
        x = torch.randn(shape)
        for step in range(args.steps):
            masks_enc, masks_pred = collator.masks(step, len(x))
            out = model(x, masks_enc, masks_pred)
            opt.zero_grad()
            out.loss.backward()
            opt.step()
            model.update_target(0.996)
            print(f"{name} step {step}: loss {out.loss.item():.4f} "
                  f"context {out.num_context} target {out.num_target} tokens")
    return 0
