"""Vision Transformer encoder shared by I-JEPA (2D patches) and V-JEPA (tubelets).

Parameter names equal the official facebookresearch/ijepa and jepa encoders after removing the
wrapper prefixes (`module.`, `module.backbone.`), so official weights map one-to-one.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

import torch
from timm.models.vision_transformer import Block
from torch import nn
from torch.utils.checkpoint import checkpoint

from vjepa.masks.apply import apply_masks
from vjepa.models.init import init_weights, rescale_blocks
from vjepa.models.patch_embed import PatchEmbed, PatchEmbed3D
from vjepa.models.pos_embed import PosOrder2D, interpolate_pos_embed, sincos_2d, sincos_3d

LayerNorm6 = partial(nn.LayerNorm, eps=1e-6)


@dataclass(frozen=True)
class ViTSize:
    embed_dim: int
    depth: int
    num_heads: int
    mlp_ratio: float = 4.0


VIT_SIZES: dict[str, ViTSize] = {
    "tiny": ViTSize(192, 12, 3),
    "small": ViTSize(384, 12, 6),
    "base": ViTSize(768, 12, 12),
    "large": ViTSize(1024, 24, 16),
    "huge": ViTSize(1280, 32, 16),
    "giant": ViTSize(1408, 40, 16, 48 / 11),
    "gigantic": ViTSize(1664, 48, 16, 64 / 13),
}


def vit_size(name: str) -> ViTSize:
    """Look up a size of the registry by name; unknown names raise with the known ones."""
    if name not in VIT_SIZES:
        raise ValueError(f"unknown ViT size {name!r}; known: {sorted(VIT_SIZES)}")
    return VIT_SIZES[name]


def make_blocks(
    dim: int, depth: int, num_heads: int, mlp_ratio: float, qkv_bias: bool, drop_path_rate: float
) -> nn.ModuleList:
    """Pre-norm timm blocks (LayerNorm eps 1e-6, GELU MLP, SDPA attention), linear drop-path."""
    rates = torch.linspace(0, drop_path_rate, depth, device="cpu").tolist()
    return nn.ModuleList(
        Block(dim, num_heads, mlp_ratio=mlp_ratio, qkv_bias=qkv_bias, drop_path=r,
              act_layer=nn.GELU, norm_layer=LayerNorm6)
        for r in rates
    )


def call_block(blk: nn.Module, x: torch.Tensor, attn_mask: torch.Tensor | None = None,
               checkpointing: bool = False) -> torch.Tensor:
    """One block; with `checkpointing` (and autograd on) its activations are recomputed in the
    backward pass instead of kept (torch.utils.checkpoint, non-reentrant): same values."""
    if checkpointing and torch.is_grad_enabled():
        return checkpoint(blk, x, attn_mask, use_reentrant=False)
    return blk(x, attn_mask)


def _pair(size: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    if isinstance(size, int):
        return (size, size)
    if len(size) != 2:
        raise ValueError(f"image size must be an int or (height, width), got {size}")
    return (int(size[0]), int(size[1]))


class TokenGrid:
    """Geometry of the token grid: (h, w) for images, (t, h, w) for video."""

    def __init__(
        self, img_size: int | tuple[int, int], patch_size: int, num_frames: int, tubelet_size: int
    ) -> None:
        self.img_size = _pair(img_size)
        self.patch_size, self.num_frames, self.tubelet_size = patch_size, num_frames, tubelet_size
        self.is_video = num_frames > 1
        for s in self.img_size:
            if s % patch_size:
                raise ValueError(f"image size {self.img_size} not divisible by patch {patch_size}")
        if self.is_video and num_frames % tubelet_size:
            raise ValueError(f"num_frames {num_frames} not divisible by tubelet {tubelet_size}")
        self.grid = self.grid_for(num_frames, *self.img_size)
        self.num_patches = math.prod(self.grid)

    def grid_for(self, frames: int, height: int, width: int) -> tuple[int, ...]:
        hw = (height // self.patch_size, width // self.patch_size)
        return (frames // self.tubelet_size, *hw) if self.is_video else hw

    def sincos(self, dim: int, uniform_power: bool, order: PosOrder2D) -> torch.Tensor:
        """The fixed table [1, N, dim] in float32."""
        if self.is_video:
            table = sincos_3d(dim, *self.grid, uniform_power=uniform_power)
        else:
            table = sincos_2d(dim, *self.grid, order=order)
        return table.float().unsqueeze(0)


class VisionTransformer(nn.Module):
    """ViT encoder. Forward: pixels (+ optional keep-index masks) -> kept tokens' features.

    Args:
        img_size: input resolution (int or (H, W)).
        num_frames: 1 builds the 2D image model (Conv2d patches); >1 the tubelet video model.
        uniform_power: 3D table with equal widths for t, h, w (V-JEPA recipes).
        pos_order: 2D table layout, "hw" (V-JEPA) or "wh" (official I-JEPA); see pos_embed.py.
    """

    def __init__(
        self,
        img_size: int | tuple[int, int] = 224,
        patch_size: int = 16,
        num_frames: int = 1,
        tubelet_size: int = 2,
        in_chans: int = 3,
        embed_dim: int = 768,
        depth: int = 12,
        num_heads: int = 12,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop_path_rate: float = 0.0,
        init_std: float = 0.02,
        uniform_power: bool = False,
        pos_order: PosOrder2D = "hw",
    ) -> None:
        super().__init__()
        if embed_dim % num_heads:
            raise ValueError(f"embed_dim {embed_dim} not divisible by num_heads {num_heads}")
        self.tokens = TokenGrid(img_size, patch_size, num_frames, tubelet_size)
        self.embed_dim, self.num_heads = embed_dim, num_heads
        if self.tokens.is_video:
            self.patch_embed = PatchEmbed3D(patch_size, tubelet_size, in_chans, embed_dim)
        else:
            self.patch_embed = PatchEmbed(patch_size, in_chans, embed_dim)
        self.pos_embed = nn.Parameter(
            self.tokens.sincos(embed_dim, uniform_power, pos_order), requires_grad=False
        )
        self.blocks = make_blocks(embed_dim, depth, num_heads, mlp_ratio, qkv_bias, drop_path_rate)
        self.norm = LayerNorm6(embed_dim)
        self.apply(partial(init_weights, std=init_std))
        rescale_blocks(self.blocks)
        self.grad_checkpointing = False  # speed.activation_checkpointing

    @property
    def num_patches(self) -> int:
        return self.tokens.num_patches

    def _as_input(self, x: torch.Tensor) -> torch.Tensor:
        if not self.tokens.is_video and x.dim() == 5:
            if x.shape[2] != 1:
                raise ValueError(f"image encoder got a clip of {x.shape[2]} frames")
            x = x[:, :, 0]
        want = 5 if self.tokens.is_video else 4
        if x.dim() != want:
            raise ValueError(f"expected a {want}-D input, got shape {tuple(x.shape)}")
        return x

    def token_grid(self, x: torch.Tensor) -> tuple[int, ...]:
        """Token grid of an input tensor (already in model layout)."""
        frames = x.shape[2] if self.tokens.is_video else 1
        return self.tokens.grid_for(frames, x.shape[-2], x.shape[-1])

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Patchify and add the (interpolated if needed) position table: [B, N, D]."""
        x = self._as_input(x)
        pos = interpolate_pos_embed(self.pos_embed, self.tokens.grid, self.token_grid(x))
        return self.patch_embed(x) + pos

    def forward(
        self, x: torch.Tensor, masks: list[torch.Tensor] | torch.Tensor | None = None
    ) -> torch.Tensor:
        """Args:
            x: [B, C, H, W] (image) or [B, C, T, H, W] (video).
            masks: keep-index tensors [B, K]; the outputs of several masks are concatenated along
                the batch (mask-major), as the official encoders do.
        Returns:
            [B * len(masks), K, D] features of the kept tokens (all tokens without masks).
        """
        x = self.embed(x)  # [B, N, D]
        if masks is not None:
            x = apply_masks(x, masks if isinstance(masks, list) else [masks])
        return self.run_blocks(x)

    def run_blocks(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        """The blocks and the final norm over embedded tokens [B, K, D]; `attn_mask` [B, 1, 1,
        K] (True = attend) hides padding (vjepa.models.packing)."""
        for blk in self.blocks:
            x = call_block(blk, x, attn_mask, self.grad_checkpointing)
        return self.norm(x)

    def block_indices(self, indices: int | Sequence[int]) -> list[int]:
        """`indices` as block numbers in [0, depth): an int n means the last n blocks; negative
        indices count from the end (-1 = the last block)."""
        depth = len(self.blocks)
        if isinstance(indices, int):
            if not 0 < indices <= depth:
                raise ValueError(f"indices={indices}: the last n blocks needs 1 <= n <= {depth}")
            return list(range(depth - indices, depth))
        bad = [i for i in indices if not -depth <= i < depth]
        if bad or not indices:
            raise ValueError(f"layers {bad or list(indices)} out of range for an encoder of "
                             f"depth {depth}")
        return [i % depth for i in indices]

    def forward_intermediates(
        self, x: torch.Tensor, indices: int | Sequence[int],
        masks: list[torch.Tensor] | torch.Tensor | None = None,
    ) -> list[torch.Tensor]:
        """The final-normed outputs [B * len(masks), K, D] of blocks `indices` (see
        `block_indices`), in the order asked (as timm's `forward_intermediates`); the blocks
        after the deepest one asked are not run. `forward(x)` is
        `forward_intermediates(x, [-1])[0]`."""
        wanted = self.block_indices(indices)
        x = self.embed(x)
        if masks is not None:
            x = apply_masks(x, masks if isinstance(masks, list) else [masks])
        normed: dict[int, torch.Tensor] = {}
        for i, blk in enumerate(self.blocks[: max(wanted) + 1]):
            x = call_block(blk, x, None, self.grad_checkpointing)
            if i in wanted:
                normed[i] = self.norm(x)
        return [normed[i] for i in wanted]


def build_vit(
    size: str,
    img_size: int | tuple[int, int] = 224,
    patch_size: int = 16,
    num_frames: int = 1,
    tubelet_size: int = 2,
    uniform_power: bool = False,
    pos_order: PosOrder2D = "hw",
    drop_path_rate: float = 0.0,
    in_chans: int = 3,
) -> VisionTransformer:
    """Encoder of a registry size (tiny ... gigantic)."""
    s = vit_size(size)
    return VisionTransformer(
        img_size=img_size, patch_size=patch_size, num_frames=num_frames,
        tubelet_size=tubelet_size, in_chans=in_chans, embed_dim=s.embed_dim, depth=s.depth,
        num_heads=s.num_heads, mlp_ratio=s.mlp_ratio, drop_path_rate=drop_path_rate,
        uniform_power=uniform_power, pos_order=pos_order,
    )
