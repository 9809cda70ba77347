"""Batching dataset items (the mask collator in ``vjepa.masks`` builds on this)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.utils.data import default_collate

ITEM_KEYS: frozenset[str] = frozenset({"video", "label", "index", "clip_indices", "bad"})


def collate_samples(batch: Sequence[dict]) -> dict:
    """Stack items of :class:`~vjepa.data.datasets.VideoDataset` / ``ImageDataset``.

    Returns:
        ``{"video": [B, V, C, T, H, W], "label": LongTensor [B], "index": LongTensor [B],
        "clip_indices": LongTensor [B, num_clips, T], "bad": list of (path, reason) of the
        whole batch}``, plus any extra key (e.g. a sampler's ``"step"``) through
        ``default_collate``.
    """
    if not batch:
        raise ValueError("cannot collate an empty batch")
    extra = set(batch[0]) - ITEM_KEYS
    for item in batch:
        if not ITEM_KEYS <= set(item) or set(item) - ITEM_KEYS != extra:
            raise ValueError(f"item keys {sorted(item)} must be {sorted(ITEM_KEYS)} plus the "
                             f"same extra keys in every item ({sorted(extra)})")
    out = {key: default_collate([item[key] for item in batch]) for key in sorted(extra)}
    return out | {
        "video": torch.stack([item["video"] for item in batch]),
        "label": torch.tensor([item["label"] for item in batch], dtype=torch.long),
        "index": torch.tensor([item["index"] for item in batch], dtype=torch.long),
        "clip_indices": torch.stack([item["clip_indices"] for item in batch]),
        "bad": [event for item in batch for event in item["bad"]],
    }
