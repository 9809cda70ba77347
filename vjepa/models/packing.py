"""All mask groups in one predictor call (speed.pack="predictor") and one encoder call ("pad").

The per-group path (JEPA.forward with pack="off", the official loop) runs the encoder and the
predictor once per mask group on sequences of that group's length: V-JEPA's two mask
configurations give contexts of different lengths, so 2 x depth short, launch-bound block calls.
Here the sequences of every group are padded to the longest one and stacked along the batch;
a key-padding attention mask (SDPA, True = attend) hides the padding, so every real token sees
exactly the tokens it sees alone. Padded query rows compute values nobody reads (zero gradient).
With "pad" the patch embedding runs once instead of once per group.

Padding costs FLOPs where lengths differ: V-JEPA's contexts do (8 x 0.15 vs 2 x 0.7 blocks:
~380 vs ~110 of 1568 tokens at ViT-L/16), its predictor sequences do not (context + targets
cover the clip in both groups), hence "predictor" packs only the predictor.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from vjepa.masks.apply import apply_masks
from vjepa.models.predictor import Predictor
from vjepa.models.vit import VisionTransformer

PACK_MODES = ("off", "predictor", "pad")


def pad_stack(seqs: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor | None]:
    """[R_i, L_i, D] sequences -> ([sum R_i, max L, D], key mask [sum R_i, 1, 1, max L] or None
    when all lengths are equal)."""
    longest = max(s.shape[1] for s in seqs)
    if all(s.shape[1] == longest for s in seqs):
        return torch.cat(seqs), None
    padded = torch.cat([F.pad(s, (0, 0, 0, longest - s.shape[1])) for s in seqs])
    lengths = torch.tensor([s.shape[1] for s in seqs for _ in range(s.shape[0])],
                           device=padded.device)
    keep = torch.arange(longest, device=padded.device)[None, :] < lengths[:, None]
    return padded, keep[:, None, None, :]


def unstack(x: torch.Tensor, seqs: list[torch.Tensor], start: list[int]) -> list[torch.Tensor]:
    """Rows of each sequence of `pad_stack` back out of x, tokens [start_i, L_i)."""
    out, row = [], 0
    for s, first in zip(seqs, start, strict=True):
        out.append(x[row:row + s.shape[0], first:s.shape[1]])
        row += s.shape[0]
    return out


def encode_groups(encoder: VisionTransformer, x: torch.Tensor,
                  masks_enc: list[list[torch.Tensor]]) -> list[torch.Tensor]:
    """Per group the encoder output `encoder(x, masks_enc[g])`, from one call."""
    tokens = encoder.embed(x)  # [B, N, D], once for every group
    seqs = [apply_masks(tokens, enc) for enc in masks_enc]
    packed, keep = pad_stack(seqs)
    return unstack(encoder.run_blocks(packed, keep), seqs, [0] * len(seqs))


def predict_groups(predictor: Predictor, contexts: list[torch.Tensor],
                   masks_enc: list[list[torch.Tensor]], masks_pred: list[list[torch.Tensor]]
                   ) -> list[torch.Tensor]:
    """Per group g `predictor(contexts[g], masks_enc[g], masks_pred[g], mask_index=g)`, from
    one call of the predictor's blocks."""
    built = [predictor.tokens_in(z, enc, pred, mask_index=g)
             for g, (z, enc, pred) in enumerate(zip(contexts, masks_enc, masks_pred,
                                                    strict=True))]
    seqs = [seq for seq, _ in built]
    packed, keep = pad_stack(seqs)
    out = unstack(predictor.run_blocks(packed, keep), seqs, [n_ctx for _, n_ctx in built])
    return [predictor.project(o) for o in out]


def packed_predictions(encoder: VisionTransformer, predictor: Predictor, x: torch.Tensor,
                       masks_enc: list[list[torch.Tensor]],
                       masks_pred: list[list[torch.Tensor]], pack_encoder: bool = True
                       ) -> list[torch.Tensor]:
    """Per group the predictions of the per-group path, from one predictor call and one
    encoder call (or, without `pack_encoder`, one encoder call per group)."""
    contexts = (encode_groups(encoder, x, masks_enc) if pack_encoder
                else [encoder(x, enc) for enc in masks_enc])
    return predict_groups(predictor, contexts, masks_enc, masks_pred)
