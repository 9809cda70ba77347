"""Attentive probe for frozen features: learned queries cross-attend to the encoder's tokens.

Key names equal the official V-JEPA probes (facebookresearch/jepa `AttentiveClassifier`):
`pooler.query_tokens` [1, Q, D], `pooler.cross_attention_block.{norm1, xattn.q, xattn.kv,
xattn.proj, norm2, mlp.fc1, mlp.fc2}`, `pooler.blocks.i.*` (depth - 1 self-attention blocks)
and `linear`.

Two block orders (`order=`), both official:
- "vjepa" (facebookresearch/jepa): cross-attention of the queries over the tokens first, then
  the self-attention blocks over the queries only.
- "vjepa2" (facebookresearch/vjepa2): the self-attention blocks over *all* encoder tokens first,
  then one cross-attention. Its cross-attention has no `xattn.proj` at all (no such key).

The V-JEPA cross-attention defines `xattn.proj` but the released V-JEPA probes were trained
without applying it. `apply_proj=False` reproduces that exactly (use it for official probes);
`apply_proj=True` is the corrected form (output projection applied) for new probes.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Literal

import torch
import torch.nn.functional as F
from timm.layers import Mlp, trunc_normal_
from timm.models.vision_transformer import Block
from torch import nn

from vjepa.models.init import init_weights

BlockOrder = Literal["vjepa", "vjepa2"]
BLOCK_ORDERS: tuple[str, ...] = ("vjepa", "vjepa2")


class CrossAttention(nn.Module):
    """Multi-head attention of queries `q` [B, Q, D] over tokens `x` [B, N, D] (SDPA)."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True,
                 apply_proj: bool = True, has_proj: bool = True) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"probe width {dim} not divisible by num_heads {num_heads}")
        if apply_proj and not has_proj:
            raise ValueError("apply_proj=True needs the xattn.proj layer (has_proj=True)")
        self.num_heads, self.apply_proj = num_heads, apply_proj
        self.q = nn.Linear(dim, dim, bias=qkv_bias)
        self.kv = nn.Linear(dim, 2 * dim, bias=qkv_bias)
        # V-JEPA: in every checkpoint, applied iff apply_proj; V-JEPA 2: absent
        self.proj = nn.Linear(dim, dim) if has_proj else None

    def forward(self, q: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        b, nq, d = q.shape
        h = self.num_heads
        q = self.q(q).reshape(b, nq, h, d // h).transpose(1, 2)  # [B, h, Q, d/h]
        kv = self.kv(x).reshape(b, x.shape[1], 2, h, d // h).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, kv[0], kv[1])  # [B, h, Q, d/h]
        out = out.transpose(1, 2).reshape(b, nq, d)
        return self.proj(out) if self.apply_proj else out


class CrossAttentionBlock(nn.Module):
    """q + xattn(q, norm1(x)), then q + mlp(norm2(q)). `norm1` normalises the keys/values only."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, qkv_bias: bool,
                 apply_proj: bool, norm_eps: float, has_proj: bool = True) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=norm_eps)
        self.xattn = CrossAttention(dim, num_heads, qkv_bias, apply_proj, has_proj)
        self.norm2 = nn.LayerNorm(dim, eps=norm_eps)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), act_layer=nn.GELU)

    def forward(self, q: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        q = q + self.xattn(q, self.norm1(x))
        return q + self.mlp(self.norm2(q))


class AttentivePooler(nn.Module):
    """Learned queries [1, Q, D] + one cross-attention block + depth-1 self-attention blocks.

    Args:
        num_queries: number of learned query tokens Q.
        depth: 1 + number of self-attention blocks (V-JEPA's probes use depth 1, V-JEPA 2's 4).
        apply_proj: apply `xattn.proj` (False reproduces the official probes exactly; must be
            False for order "vjepa2", which has no such layer).
        norm_eps: LayerNorm epsilon; the official probes use torch's default 1e-5.
        order: "vjepa" (cross-attention, then blocks over the queries) or "vjepa2" (blocks
            over all tokens, then cross-attention); see the module doc.
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        num_queries: int = 1,
        mlp_ratio: float = 4.0,
        depth: int = 1,
        qkv_bias: bool = True,
        apply_proj: bool = True,
        init_std: float = 0.02,
        norm_eps: float = 1e-5,
        order: BlockOrder = "vjepa",
    ) -> None:
        super().__init__()
        if depth < 1 or num_queries < 1:
            raise ValueError(f"depth and num_queries must be >= 1, got {depth}, {num_queries}")
        if order not in BLOCK_ORDERS:
            raise ValueError(f"probe block order must be one of {BLOCK_ORDERS}, got {order!r}")
        self.order = order
        self.query_tokens = nn.Parameter(torch.zeros(1, num_queries, embed_dim))
        self.cross_attention_block = CrossAttentionBlock(
            embed_dim, num_heads, mlp_ratio, qkv_bias, apply_proj, norm_eps,
            has_proj=order == "vjepa",
        )
        self.blocks = nn.ModuleList(
            Block(embed_dim, num_heads, mlp_ratio=mlp_ratio, qkv_bias=qkv_bias,
                  norm_layer=partial(nn.LayerNorm, eps=norm_eps))
            for _ in range(depth - 1)
        )
        self.apply(partial(init_weights, std=init_std))
        trunc_normal_(self.query_tokens, std=init_std)
        self._rescale()

    def _rescale(self) -> None:
        """Official inits. V-JEPA: the cross block is layer 1, self-attention block i layer
        i + 2. V-JEPA 2: block i is layer i + 1, the cross block's mlp takes the last block's
        layer number (1 without blocks)."""
        block = self.cross_attention_block
        first = 1 if self.order == "vjepa2" else 2
        for layer_id, blk in enumerate(self.blocks, start=first):
            blk.attn.proj.weight.data.div_(math.sqrt(2.0 * layer_id))
            blk.mlp.fc2.weight.data.div_(math.sqrt(2.0 * layer_id))
        cross_id = max(1, len(self.blocks)) if self.order == "vjepa2" else 1
        block.mlp.fc2.weight.data.div_(math.sqrt(2.0 * cross_id))
        if block.xattn.proj is not None:
            block.xattn.proj.weight.data.div_(math.sqrt(2.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[B, N, D] tokens -> [B, Q, D] pooled queries."""
        if x.dim() != 3 or x.shape[-1] != self.query_tokens.shape[-1]:
            raise ValueError(
                f"pooler expects tokens [B, N, {self.query_tokens.shape[-1]}], "
                f"got {tuple(x.shape)}"
            )
        q = self.query_tokens.expand(len(x), -1, -1)
        if self.order == "vjepa2":
            for blk in self.blocks:
                x = blk(x)
            return self.cross_attention_block(q, x)
        q = self.cross_attention_block(q, x)
        for blk in self.blocks:
            q = blk(q)
        return q


class AttentiveClassifier(nn.Module):
    """AttentivePooler with one query, then `linear` to class logits: [B, N, D] -> [B, C]."""

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        num_classes: int,
        mlp_ratio: float = 4.0,
        depth: int = 1,
        qkv_bias: bool = True,
        apply_proj: bool = True,
        init_std: float = 0.02,
        norm_eps: float = 1e-5,
        order: BlockOrder = "vjepa",
    ) -> None:
        super().__init__()
        if num_classes < 1:
            raise ValueError(f"num_classes must be >= 1, got {num_classes}")
        self.pooler = AttentivePooler(
            embed_dim, num_heads, num_queries=1, mlp_ratio=mlp_ratio, depth=depth,
            qkv_bias=qkv_bias, apply_proj=apply_proj, init_std=init_std, norm_eps=norm_eps,
            order=order,
        )
        self.linear = nn.Linear(embed_dim, num_classes)  # torch default init, as official

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.pooler(x).squeeze(1))
