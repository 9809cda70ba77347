"""Batching dataset items (the mask collator in ``vjepa.masks`` builds on this)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

ITEM_KEYS: frozenset[str] = frozenset({"video", "label", "index", "clip_indices", "bad"})


def collate_samples(batch: Sequence[dict]) -> dict:
    """Stack items of :class:`~vjepa.data.datasets.VideoDataset` / ``ImageDataset``.

    Returns:
        ``{"video": [B, V, C, T, H, W], "label": LongTensor [B], "index": LongTensor [B],
        "clip_indices": LongTensor [B, num_clips, T], "bad": list of (path, reason) of the
        whole batch}``.
    """
    if not batch:
        raise ValueError("cannot collate an empty batch")
    for item in batch:
        if set(item) != ITEM_KEYS:
            raise ValueError(f"item keys {sorted(item)} differ from {sorted(ITEM_KEYS)}")
    return {
        "video": torch.stack([item["video"] for item in batch]),
        "label": torch.tensor([item["label"] for item in batch], dtype=torch.long),
        "index": torch.tensor([item["index"] for item in batch], dtype=torch.long),
        "clip_indices": torch.stack([item["clip_indices"] for item in batch]),
        "bad": [event for item in batch for event in item["bad"]],
    }
