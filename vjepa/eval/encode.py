"""The frozen forward of the evaluation and how its tokens become probe views.

Clips arrive as [B, S * V, C, T, H, W] (S segments x V spatial views, segment-major). The
encoder sees them all as one batch; `arrange` lays the result out as probe views
(vjepa/eval/probes.py):
- attentive, attend_across_segments: per spatial view, the tokens of all S segments
  concatenated in segment order -> [B, V, S * N, D] (official K400: 8 x 1568 tokens);
- attentive, not across segments: every (segment, view) its own view -> [B, S * V, N, D];
- linear / k-NN: average-pooled tokens (concatenated over `layers`), pooled over segments
  when attending across them -> [B, V, L * D], else [B, S * V, L * D].
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext

import torch

from vjepa.features import encode_layers
from vjepa.models.vit import VisionTransformer


@torch.inference_mode()
def encode(model: VisionTransformer, clips: torch.Tensor, layers: Sequence[int] | None = None,
           bf16: bool = True) -> torch.Tensor:
    """[M, C, T, H, W] -> [M, N, D] tokens, or [M, L, N, D] for `layers`. One-frame clips
    are repeated to the frame count of a video encoder (the official image evaluation)."""
    device = next(model.parameters()).device
    clips = clips.to(device, non_blocking=True)
    if model.tokens.is_video and clips.shape[2] == 1:
        clips = clips.expand(-1, -1, model.tokens.num_frames, -1, -1)
    amp = bf16 and device.type == "cuda"
    ctx = torch.autocast("cuda", dtype=torch.bfloat16) if amp else nullcontext()
    with ctx:
        out = encode_layers(model, clips, layers)
    return out.float()


def arrange(tokens: torch.Tensor, segments: int, views: int, protocol: str,
            across: bool) -> torch.Tensor:
    """Encoder output for B * S * V clips -> probe views (see the module doc)."""
    if len(tokens) % (segments * views):
        raise ValueError(f"{len(tokens)} clips are not a multiple of {segments} segments x "
                         f"{views} views")
    b = len(tokens) // (segments * views)
    if protocol == "attentive":
        if tokens.dim() != 3:
            raise ValueError(f"the attentive probe takes one layer's tokens [M, N, D], got "
                             f"{tuple(tokens.shape)}")
        t = tokens.reshape(b, segments, views, *tokens.shape[1:])
        if across:
            return t.transpose(1, 2).flatten(2, 3)  # [B, V, S * N, D]
        return t.flatten(1, 2)
    pooled = tokens.mean(dim=-2)  # [M, D] or [M, L, D]
    pooled = pooled.flatten(1) if pooled.dim() == 3 else pooled  # layers concatenated
    p = pooled.reshape(b, segments, views, -1)
    return p.mean(1) if across else p.flatten(1, 2)
