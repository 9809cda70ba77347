"""`vjepa smoke`: one JEPA forward/backward on random data, image and video (install check)."""

from __future__ import annotations

import argparse

import torch

from vjepa.jepa import JEPA
from vjepa.masks.collator import MaskCollator
from vjepa.train.build import build_core
from vjepa.train.config import Mask2DConfig, MaskConfig, ModelConfig, TrainConfig


def tiny_config(num_frames: int, img_size: int = 64, patch: int = 8) -> TrainConfig:
    """A tiny I-JEPA (num_frames == 1) or V-JEPA config: the recipe defaults at a small size."""
    video = num_frames > 1
    model = ModelConfig(size="tiny", embed_dim=96, depth=2, num_heads=3, crop_size=img_size,
                        patch_size=patch, num_frames=num_frames, uniform_power=video,
                        pos_order="hw" if video else "wh", pred_depth=2, pred_embed_dim=48,
                        mask_token_layout="per_config" if video else "single",
                        num_mask_tokens=2 if video else 1,
                        loss_type="l1" if video else "smooth_l1")
    return TrainConfig(seed=0, model=model, mask=MaskConfig(image=Mask2DConfig(min_keep=4)))


def tiny_jepa(num_frames: int, img_size: int = 64, patch: int = 8) -> tuple[JEPA, MaskCollator]:
    """The model and mask collator of `tiny_config`, built by the training builder."""
    return build_core(tiny_config(num_frames, img_size, patch))


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
