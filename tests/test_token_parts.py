"""benchmarks/token_parts.py: the position / content split of token variance is exact on
tokens built from a known position table and known per-clip noise."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import torch

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCH))  # token_parts imports its sibling learning.py
SPEC = importlib.util.spec_from_file_location("token_parts", BENCH / "token_parts.py")
token_parts = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(token_parts)


def test_split_follows_the_share_of_position_and_clip_variance() -> None:
    gen = torch.Generator().manual_seed(0)
    n, length, dim = 4000, 16, 64
    position = torch.randn(length, dim, generator=gen)
    position = position - position.mean(-1, keepdim=True)  # layer norm leaves it unscaled ...
    position = position / position.std(-1, keepdim=True)
    for share in (0.2, 0.5, 0.9):
        noise = torch.randn(n, length, dim, generator=gen)
        tokens = share ** 0.5 * position + (1 - share) ** 0.5 * noise
        parts = token_parts.token_parts(tokens)
        assert abs(parts["position"] - share) < 0.03, (share, parts)  # ... up to the norm's
        assert abs(parts["position"] + parts["content"] - 1) < 1e-6


def test_tokens_that_ignore_the_clip_are_all_position() -> None:
    tokens = torch.randn(1, 8, 32).expand(50, 8, 32) + 1e-6 * torch.randn(50, 8, 32)
    assert token_parts.token_parts(tokens)["position"] > 0.999
