"""The shared JEPA core: context encoder, EMA target encoder, predictor and loss.

One module for both modalities. I-JEPA and V-JEPA differ only in configuration: the encoder's
patch embedding (2D / tubelet), the mask generators (their groups, see vjepa.masks.collator) and
the loss (`smooth_l1` / `l1` with an exponent).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from vjepa.masks.apply import apply_masks, repeat_interleave_batch
from vjepa.models.packing import PACK_MODES, packed_predictions
from vjepa.models.predictor import Predictor
from vjepa.models.vit import VisionTransformer

LossType = Literal["l1", "smooth_l1"]


@dataclass
class JEPAOutput:
    """Loss and what monitoring needs, without host syncs."""

    loss: torch.Tensor  # scalar
    targets: torch.Tensor  # [B, N, D] layer-normed target features (detached)
    num_context: int  # context tokens per sample, summed over groups
    num_target: int  # target tokens per sample, summed over groups


def prediction_loss(
    pred: torch.Tensor, target: torch.Tensor, loss_type: LossType, loss_exp: float = 1.0
) -> torch.Tensor:
    """V-JEPA: mean(|p - t|^exp) / exp. I-JEPA: smooth-L1 (beta 1). At least float32."""
    dtype = torch.promote_types(pred.dtype, torch.float32)
    pred, target = pred.to(dtype), target.to(dtype)
    if loss_type == "l1":
        return torch.mean(torch.abs(pred - target) ** loss_exp) / loss_exp
    if loss_type == "smooth_l1":
        return F.smooth_l1_loss(pred, target)
    raise ValueError(f"loss_type must be 'l1' or 'smooth_l1', got {loss_type!r}")


class JEPA(nn.Module):
    """Context encoder + EMA target encoder + predictor.

    Args:
        encoder: the context (online) encoder; the target encoder starts as its deep copy.
        predictor: maps context features + mask positions to target features.
        loss_type: "l1" (V-JEPA) or "smooth_l1" (I-JEPA).
        loss_exp: exponent of the L1 loss (V-JEPA recipes use 1.0).
    """

    def __init__(
        self,
        encoder: VisionTransformer,
        predictor: Predictor,
        loss_type: LossType = "l1",
        loss_exp: float = 1.0,
    ) -> None:
        super().__init__()
        if loss_type not in ("l1", "smooth_l1"):
            raise ValueError(f"loss_type must be 'l1' or 'smooth_l1', got {loss_type!r}")
        if loss_exp <= 0:
            raise ValueError(f"loss_exp must be positive, got {loss_exp}")
        self.encoder = encoder
        self.predictor = predictor
        self.target_encoder = copy.deepcopy(encoder)
        for p in self.target_encoder.parameters():
            p.requires_grad_(False)
        self.loss_type, self.loss_exp = loss_type, loss_exp
        self.pack = "off"  # speed.pack (PACK_MODES): mask groups in one call (models.packing)

    @torch.no_grad()
    def target_features(self, x: torch.Tensor) -> torch.Tensor:
        """Layer-normed (over features, no affine) target-encoder output on all tokens."""
        h = self.target_encoder(x)
        return F.layer_norm(h, (h.size(-1),))

    def forward(
        self,
        x: torch.Tensor,
        masks_enc: list[list[torch.Tensor]],
        masks_pred: list[list[torch.Tensor]],
    ) -> JEPAOutput:
        """Loss of one batch, averaged over mask groups.

        Args:
            x: [B, C, H, W] images or [B, C, T, H, W] clips.
            masks_enc / masks_pred: per group, lists of index tensors [B, K]: the context
                masks (kept tokens the encoder sees) and the target masks (tokens to predict).
        """
        if len(masks_enc) != len(masks_pred) or not masks_enc:
            raise ValueError(
                f"need equal, non-zero numbers of mask groups: {len(masks_enc)} context, "
                f"{len(masks_pred)} target"
            )
        h = self.target_features(x)  # [B, N, D]
        batch = h.shape[0]
        loss = h.new_zeros((), dtype=torch.float32)
        preds = self.predictions(x, masks_enc, masks_pred)
        for pred, ctx, tgt in zip(preds, masks_enc, masks_pred, strict=True):
            t = repeat_interleave_batch(apply_masks(h, tgt), batch, len(ctx))
            loss = loss + prediction_loss(pred, t, self.loss_type, self.loss_exp)
        return JEPAOutput(
            loss=loss / len(masks_enc),
            targets=h,
            num_context=sum(m.shape[1] for grp in masks_enc for m in grp),
            num_target=sum(m.shape[1] for grp in masks_pred for m in grp),
        )

    def predictions(self, x: torch.Tensor, masks_enc: list[list[torch.Tensor]],
                    masks_pred: list[list[torch.Tensor]]) -> list[torch.Tensor]:
        """Per group g the predictor's output [len(tgt) * len(ctx) * B, Nt, D] for the
        context masks ctx = masks_enc[g] and the target masks tgt = masks_pred[g] (mask token
        g): one encoder and predictor call per group, or with pack="predictor" one predictor
        call, "pad" also one encoder call, for all groups (vjepa.models.packing, same
        values)."""
        if self.pack not in PACK_MODES:
            raise ValueError(f"pack must be one of {PACK_MODES}, got {self.pack!r}")
        if self.pack != "off" and len(masks_enc) > 1:
            return packed_predictions(self.encoder, self.predictor, x, masks_enc, masks_pred,
                                      pack_encoder=self.pack == "pad")
        return [self.predictor(self.encoder(x, ctx), ctx, tgt, mask_index=g)
                for g, (ctx, tgt) in enumerate(zip(masks_enc, masks_pred, strict=True))]

    @torch.no_grad()
    def update_target(self, momentum: float, apply: torch.Tensor | None = None) -> None:
        """EMA: target = m * target + (1 - m) * online, over all encoder parameters.

        `apply`: a 0-d bool device flag; where false the momentum is 1 (target unchanged),
        decided on the device (a skipped step, vjepa.train.step)."""
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"EMA momentum must be in [0, 1], got {momentum}")
        tgt = list(self.target_encoder.parameters())
        src = [p.detach() for p in self.encoder.parameters()]
        if apply is None:
            torch._foreach_mul_(tgt, momentum)
            torch._foreach_add_(tgt, src, alpha=1.0 - momentum)
            return
        keep = torch.where(apply, momentum, 1.0).to(tgt[0].dtype)
        take = torch.where(apply, 1.0 - momentum, 0.0).to(tgt[0].dtype)
        torch._foreach_mul_(tgt, keep)
        torch._foreach_add_(tgt, torch._foreach_mul(src, take))
