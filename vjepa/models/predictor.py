"""JEPA predictor: context tokens + mask tokens at the target positions -> target features.

Key names equal the official predictors (`predictor_embed`, `mask_tokens.i` or `mask_token`,
`predictor_pos_embed`, `predictor_blocks`, `predictor_norm`, `predictor_proj`).
"""

from __future__ import annotations

from functools import partial
from typing import Literal

import torch
from timm.layers import trunc_normal_
from torch import nn

from vjepa.masks.apply import apply_masks, repeat_interleave_batch
from vjepa.models.init import init_weights, rescale_blocks
from vjepa.models.pos_embed import PosOrder2D
from vjepa.models.vit import LayerNorm6, TokenGrid, call_block, make_blocks

MaskTokenLayout = Literal["per_config", "single"]


class Predictor(nn.Module):
    """Narrow ViT over [context tokens, mask tokens at target positions].

    Args:
        embed_dim: encoder width D; predictions are projected back to it.
        predictor_embed_dim: predictor width Dp.
        num_heads: attention heads; the official code uses the *encoder's* head count.
        mask_token_layout: "per_config" (V-JEPA: `mask_tokens.{i}`, one per mask configuration)
            or "single" (I-JEPA: one `mask_token`, trunc-normal init).
        num_mask_tokens: number of V-JEPA mask tokens (ignored for "single").
        zero_init_mask_tokens: V-JEPA mask tokens start at zero (else trunc-normal).
    """

    def __init__(
        self,
        img_size: int | tuple[int, int] = 224,
        patch_size: int = 16,
        num_frames: int = 1,
        tubelet_size: int = 2,
        embed_dim: int = 768,
        predictor_embed_dim: int = 384,
        depth: int = 6,
        num_heads: int = 12,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop_path_rate: float = 0.0,
        init_std: float = 0.02,
        uniform_power: bool = False,
        pos_order: PosOrder2D = "hw",
        mask_token_layout: MaskTokenLayout = "per_config",
        num_mask_tokens: int = 2,
        zero_init_mask_tokens: bool = True,
    ) -> None:
        super().__init__()
        if mask_token_layout not in ("per_config", "single"):
            raise ValueError(f"mask_token_layout must be per_config|single: {mask_token_layout!r}")
        if predictor_embed_dim % num_heads:
            raise ValueError(f"predictor width {predictor_embed_dim} not divisible by {num_heads}")
        self.tokens = TokenGrid(img_size, patch_size, num_frames, tubelet_size)
        self.predictor_embed = nn.Linear(embed_dim, predictor_embed_dim)
        self.mask_token_layout = mask_token_layout
        if mask_token_layout == "single":
            self.mask_token = nn.Parameter(torch.zeros(1, 1, predictor_embed_dim))
            trunc_normal_(self.mask_token, std=init_std)
        else:
            if num_mask_tokens < 1:
                raise ValueError(f"num_mask_tokens must be >= 1, got {num_mask_tokens}")
            self.mask_tokens = nn.ParameterList(
                nn.Parameter(torch.zeros(1, 1, predictor_embed_dim)) for _ in range(num_mask_tokens)
            )
            if not zero_init_mask_tokens:
                for t in self.mask_tokens:
                    trunc_normal_(t, std=init_std)
        self.predictor_pos_embed = nn.Parameter(
            self.tokens.sincos(predictor_embed_dim, uniform_power, pos_order), requires_grad=False
        )
        self.predictor_blocks = make_blocks(
            predictor_embed_dim, depth, num_heads, mlp_ratio, qkv_bias, drop_path_rate
        )
        self.predictor_norm = LayerNorm6(predictor_embed_dim)
        self.predictor_proj = nn.Linear(predictor_embed_dim, embed_dim)
        self.apply(partial(init_weights, std=init_std))
        rescale_blocks(self.predictor_blocks)
        self.grad_checkpointing = False  # speed.activation_checkpointing

    def _mask_token(self, mask_index: int) -> torch.Tensor:
        if self.mask_token_layout == "single":
            return self.mask_token
        return self.mask_tokens[mask_index % len(self.mask_tokens)]

    def forward(
        self,
        ctx: torch.Tensor,
        masks_ctx: list[torch.Tensor] | torch.Tensor,
        masks_tgt: list[torch.Tensor] | torch.Tensor,
        mask_index: int = 0,
    ) -> torch.Tensor:
        """Predict the target tokens.

        Args:
            ctx: encoder output for the context masks, [len(masks_ctx) * B, Nc, D].
            masks_ctx: keep-indices [B, Nc] that produced `ctx`.
            masks_tgt: target indices [B, Nt]; each is predicted as its own sequence with the
                full context (I-JEPA: 4 blocks; V-JEPA: one union per mask configuration).
            mask_index: which learned mask token (V-JEPA: the mask configuration index).
        Returns:
            [len(masks_tgt) * len(masks_ctx) * B, Nt, D], mask-major like `apply_masks`.
        """
        x, n_ctx = self.tokens_in(ctx, masks_ctx, masks_tgt, mask_index)
        return self.project(self.run_blocks(x)[:, n_ctx:])

    def tokens_in(
        self,
        ctx: torch.Tensor,
        masks_ctx: list[torch.Tensor] | torch.Tensor,
        masks_tgt: list[torch.Tensor] | torch.Tensor,
        mask_index: int = 0,
    ) -> tuple[torch.Tensor, int]:
        """The blocks' input (arguments as `forward`): [context tokens + positions, mask token +
        target positions], [len(masks_tgt) * len(masks_ctx) * B, Nc + Nt, Dp], and Nc."""
        masks_ctx = masks_ctx if isinstance(masks_ctx, list) else [masks_ctx]
        masks_tgt = masks_tgt if isinstance(masks_tgt, list) else [masks_tgt]
        batch = len(ctx) // len(masks_ctx)
        x = self.predictor_embed(ctx)  # [nc*B, Nc, Dp]
        pos = self.predictor_pos_embed.expand(batch, -1, -1)  # [B, N, Dp]
        x = x + apply_masks(pos, masks_ctx)
        n_ctx = x.shape[1]
        tgt_pos = repeat_interleave_batch(apply_masks(pos, masks_tgt), batch, len(masks_ctx))
        pred = self._mask_token(mask_index) + tgt_pos  # [nt*nc*B, Nt, Dp]
        return torch.cat([x.repeat(len(masks_tgt), 1, 1), pred], dim=1), n_ctx

    def run_blocks(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None
                   ) -> torch.Tensor:
        """The blocks and the norm; `attn_mask` [R, 1, 1, L] (True = attend) hides padding."""
        for blk in self.predictor_blocks:
            x = call_block(blk, x, attn_mask, self.grad_checkpointing)
        return self.predictor_norm(x)

    def project(self, x: torch.Tensor) -> torch.Tensor:
        """Normed predictor tokens [R, Nt, Dp] -> predictions [R, Nt, D]."""
        return self.predictor_proj(x)
