"""Index helpers shared by the encoder, predictor and loss (token gathering by keep-indices)."""

from __future__ import annotations

import torch


def apply_masks(x: torch.Tensor, masks: list[torch.Tensor]) -> torch.Tensor:
    """Gather tokens of `x` [B, N, D] at each mask [B, K]; concatenate along the batch.

    Returns:
        [len(masks) * B, K, D], mask-major (mask j, sample b at row j * B + b).
    """
    out = []
    for m in masks:
        check_mask(m, x.shape[0], x.shape[1])
        out.append(torch.gather(x, 1, m.unsqueeze(-1).expand(-1, -1, x.size(-1))))
    return torch.cat(out, dim=0)


def check_mask(mask: torch.Tensor, batch: int, num_tokens: int) -> None:
    """A keep-index mask must be an integer [batch, K] tensor with indices in [0, num_tokens).

    The range is checked for CPU masks only (the collator's output): on a GPU it would cost a
    host sync per forward, and the CPU check has already run in the loader by then.
    """
    if mask.dim() != 2 or mask.shape[0] != batch:
        raise ValueError(f"mask must be [B={batch}, K], got {tuple(mask.shape)}")
    if mask.dtype not in (torch.int64, torch.int32):
        raise ValueError(f"mask must hold int64/int32 token indices, got {mask.dtype}")
    if mask.device.type == "cpu" and mask.numel():
        low, high = int(mask.min()), int(mask.max())
        if low < 0 or high >= num_tokens:
            raise ValueError(f"mask indices must be in [0, {num_tokens}), got [{low}, {high}]")


def repeat_interleave_batch(x: torch.Tensor, batch_size: int, repeat: int) -> torch.Tensor:
    """Repeat each consecutive chunk of `batch_size` rows `repeat` times (official semantics)."""
    n = len(x) // batch_size
    chunks = [x[i * batch_size : (i + 1) * batch_size] for i in range(n)]
    return torch.cat([c for c in chunks for _ in range(repeat)], dim=0)
