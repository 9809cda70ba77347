"""Collapse indicators of the target features and on-device metric accumulation.

Indicators (computed on the layer-normed target features [B, N, D] of a batch):
- std_samples: std across the samples of the token-averaged features, mean over channels;
  ~0 when every clip maps to the same representation;
- std_tokens: std across the tokens of one clip, mean over channels and clips; ~0 when the
  tokens of a clip carry the same feature (the token-structure collapse of small runs);
- eff_rank: effective rank (exp of the entropy of the normalised singular values) of one
  clip's centred token features, mean over up to `max_clips` clips.
All stay on the device; nothing here reads a value back to the host.
"""

from __future__ import annotations

import math

import torch


def std_across_samples(targets: torch.Tensor) -> torch.Tensor:
    """[B, N, D] -> scalar; NaN for a batch of one sample (no spread to measure)."""
    if targets.shape[0] < 2:
        return torch.full((), float("nan"), device=targets.device)
    return targets.float().mean(1).std(0).mean()


def std_across_tokens(targets: torch.Tensor) -> torch.Tensor:
    """[B, N, D] -> scalar."""
    return targets.float().std(1).mean()


def effective_rank(tokens: torch.Tensor) -> torch.Tensor:
    """Effective rank of a [N, D] feature matrix after centring over the N rows."""
    x = tokens.float() - tokens.float().mean(0, keepdim=True)
    s = torch.linalg.svdvals(x)
    p = s / s.sum().clamp_min(1e-12)
    entropy = -(p * torch.log(p.clamp_min(1e-12))).sum()
    return torch.exp(entropy)


def collapse_indicators(targets: torch.Tensor, max_clips: int = 4) -> dict[str, torch.Tensor]:
    """The three indicators of one batch of target features [B, N, D] (0-d tensors)."""
    clips = targets[:max_clips]
    return {
        "std_samples": std_across_samples(targets),
        "std_tokens": std_across_tokens(targets),
        "eff_rank": torch.stack([effective_rank(c) for c in clips]).mean(),
    }


class MetricSums:
    """Running sums per name: tensors stay on their device, floats on the host; `read()` copies
    the tensor sums to the host in one transfer and returns the means since the last read."""

    def __init__(self) -> None:
        self.tensors: dict[str, torch.Tensor] = {}
        self.floats: dict[str, float] = {}
        self.counts: dict[str, int] = {}
        self.masked_counts: dict[str, torch.Tensor] = {}

    def add_masked(self, name: str, value: torch.Tensor, keep: torch.Tensor) -> None:
        """Add `value` where the device flag `keep` is true (counted on the device too): the
        mean of the kept values, NaN when none was kept, without a host read now."""
        v = torch.where(keep, value.detach().float(), 0.0)
        k = keep.float()
        self.tensors[name] = self.tensors[name] + v if name in self.tensors else v
        self.masked_counts[name] = (self.masked_counts[name] + k if name in self.masked_counts
                                    else k)

    def add(self, name: str, value: torch.Tensor | float) -> None:
        if isinstance(value, torch.Tensor):
            v = value.detach().float()
            self.tensors[name] = self.tensors[name] + v if name in self.tensors else v
        else:
            self.floats[name] = self.floats.get(name, 0.0) + float(value)
        self.counts[name] = self.counts.get(name, 0) + 1

    def read(self) -> dict[str, float]:
        out = dict(self.floats)
        counts: dict[str, float] = dict(self.counts)
        if self.tensors:
            names, masked = list(self.tensors), list(self.masked_counts)
            values = torch.stack([self.tensors[n] for n in names]
                                 + [self.masked_counts[n] for n in masked]).cpu().tolist()
            out.update(zip(names, values[:len(names)], strict=True))
            counts.update(zip(masked, values[len(names):], strict=True))
        means = {n: v / counts[n] if counts[n] else math.nan for n, v in out.items()}
        self.tensors.clear()
        self.masked_counts.clear()
        self.floats.clear()
        self.counts.clear()
        return means
