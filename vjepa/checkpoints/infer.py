"""Architecture inference from the tensors of a (wrapper-stripped) state dict.

Width, depth, MLP ratio, qkv bias, patch and tubelet size come from tensor shapes. The token
grid (hence resolution and frames) and the position-table flags (`uniform_power`, 2D order)
come from matching the stored fixed sin-cos table against the tables this project computes.
The number of heads is not stored anywhere: it comes from an argument or, for the standard
widths, the size registry (the official probes and predictors use the encoder's head count).
"""

from __future__ import annotations

import math
import re

import torch

from vjepa.checkpoints.arch import EncoderArch, PredictorArch, ProbeArch
from vjepa.checkpoints.errors import CheckpointError, UnsupportedCheckpointError
from vjepa.models.pos_embed import sincos_2d, sincos_3d
from vjepa.models.vit import VIT_SIZES

HEADS_BY_WIDTH: dict[int, int] = {s.embed_dim: s.num_heads for s in VIT_SIZES.values()}
TABLE_ATOL = 2e-3  # a stored fixed table matches ours to float32/bf16 rounding


def heads_for_width(width: int, num_heads: int | None, path: str) -> int:
    """`num_heads` if given (checked), else the registry's head count for `width`."""
    if num_heads is None:
        if width not in HEADS_BY_WIDTH:
            raise CheckpointError(
                path, f"cannot infer the number of attention heads of a width-{width} model "
                f"(checkpoints do not store it; known widths {sorted(HEADS_BY_WIDTH)}): "
                "pass num_heads",
            )
        num_heads = HEADS_BY_WIDTH[width]
    if num_heads < 1 or width % num_heads:
        raise CheckpointError(path, f"num_heads {num_heads} does not divide width {width}")
    return num_heads


def block_count(state: dict[str, torch.Tensor], prefix: str, path: str) -> int:
    """Number of blocks `<prefix><i>.`; their indices must be 0..n-1."""
    pattern = re.compile(re.escape(prefix) + r"(\d+)\.")
    found = {int(m.group(1)) for k in state if (m := pattern.match(k))}
    if found != set(range(len(found))):
        raise CheckpointError(path, f"{prefix}* block indices are not contiguous: {sorted(found)}")
    return len(found)


def _require(state: dict[str, torch.Tensor], key: str, path: str, what: str) -> torch.Tensor:
    if key not in state:
        raise CheckpointError(
            path, f"no {key!r}: not a {what} state dict (first keys: {sorted(state)[:8]})"
        )
    return state[key]


def _mlp_ratio(state: dict[str, torch.Tensor], key: str, width: int) -> float:
    """A ratio r with int(width * r) == the stored hidden width (how the blocks size it)."""
    if key not in state:
        return 4.0
    hidden = state[key].shape[0]
    ratio = hidden / width
    return ratio if int(width * ratio) == hidden else (hidden + 0.5) / width  # float rounding


def _table(dim: int, grid: tuple[int, ...], uniform_power: bool, order: str) -> torch.Tensor:
    if len(grid) == 3:
        return sincos_3d(dim, *grid, uniform_power=uniform_power).float()
    return sincos_2d(dim, *grid, order=order).float()


def _candidate_grids(
    n: int, video: bool, patch: int, tubelet: int,
    num_frames: int | None, img_size: tuple[int, int] | None,
) -> list[tuple[int, ...]]:
    t_fixed = num_frames // tubelet if (video and num_frames) else None
    if img_size is not None:
        h, w = img_size[0] // patch, img_size[1] // patch
        if not video:
            return [(h, w)] if h * w == n else []
        t = n // (h * w) if n % (h * w) == 0 else 0
        return [(t, h, w)] if t and t_fixed in (None, t) else []
    if not video:
        s = math.isqrt(n)
        return [(s, s)] if s * s == n else []
    ts = [t_fixed] if t_fixed else [t for t in range(1, n + 1) if n % t == 0]
    return [(t, s, s) for t in ts if n % t == 0 and (s := math.isqrt(n // t)) ** 2 == n // t]


def infer_grid(
    pos: torch.Tensor, path: str, what: str, video: bool, patch: int, tubelet: int,
    num_frames: int | None, img_size: tuple[int, int] | None,
    uniform_power: bool | None, pos_order: str,
) -> tuple[tuple[int, ...], bool, str]:
    """(grid, uniform_power, pos_order) of a stored [1, N, D] table.

    The stored table is compared with ours for every grid compatible with N (and with the
    given `num_frames`/`img_size`) and both flag values; a single match is taken. A table that
    matches none (not a fixed sin-cos table) is accepted only when the grid is unambiguous.
    """
    if pos.dim() != 3 or pos.shape[0] != 1:
        raise CheckpointError(path, f"{what} has shape {list(pos.shape)}, expected [1, N, D]")
    n, dim = pos.shape[1], pos.shape[2]
    grids = _candidate_grids(n, video, patch, tubelet, num_frames, img_size)
    if not grids:
        raise CheckpointError(
            path, f"{what} has {n} tokens, which fits no token grid for patch {patch}"
            + (f", tubelet {tubelet}" if video else "")
            + f", num_frames={num_frames}, img_size={img_size}",
        )
    powers = [uniform_power] if uniform_power is not None else [False, True]
    options = [(g, up, "hw") for g in grids for up in powers] if video else [
        (g, False, o) for g in grids for o in (pos_order, "wh" if pos_order == "hw" else "hw")
    ]
    stored = pos[0].float()
    matches = [o for o in options
               if (stored - _table(dim, *o)).abs().max().item() <= TABLE_ATOL]
    if len(matches) == 1:
        return matches[0]
    if len(grids) == 1 and not matches:
        return options[0]
    raise CheckpointError(
        path, f"cannot tell the token grid of {what} with {n} tokens "
        f"(candidate grids {grids}, table matches {matches}): pass num_frames and img_size",
    )


def infer_encoder(
    state: dict[str, torch.Tensor], path: str, num_heads: int | None = None,
    num_frames: int | None = None, img_size: tuple[int, int] | None = None,
    uniform_power: bool | None = None, pos_order: str = "hw",
) -> EncoderArch:
    """Encoder architecture of a stripped encoder state dict.

    Args:
        pos_order: the 2D table order tried first (official I-JEPA files use "wh").
    Raises:
        UnsupportedCheckpointError: no `pos_embed` (a RoPE encoder, e.g. V-JEPA 2).
    """
    proj = _require(state, "patch_embed.proj.weight", path, "ViT encoder")
    if "pos_embed" not in state:
        raise UnsupportedCheckpointError(
            path, "the encoder has no 'pos_embed': it uses rotary position embeddings (RoPE, "
            "V-JEPA 2 / 2.1), which this project cannot represent yet",
        )
    if proj.dim() not in (4, 5):
        raise CheckpointError(path, f"patch_embed.proj.weight has shape {list(proj.shape)}")
    video = proj.dim() == 5
    width, in_chans, patch = proj.shape[0], proj.shape[1], proj.shape[-1]
    tubelet = proj.shape[2] if video else 2
    grid, up, order = infer_grid(
        state["pos_embed"], path, "pos_embed", video, patch, tubelet, num_frames, img_size,
        uniform_power, pos_order,
    )
    return EncoderArch(
        img_size=(grid[-2] * patch, grid[-1] * patch), patch_size=patch,
        num_frames=grid[0] * tubelet if video else 1, tubelet_size=tubelet, in_chans=in_chans,
        embed_dim=width, depth=block_count(state, "blocks.", path),
        num_heads=heads_for_width(width, num_heads, path),
        mlp_ratio=_mlp_ratio(state, "blocks.0.mlp.fc1.weight", width),
        qkv_bias="blocks.0.attn.qkv.bias" in state, uniform_power=up, pos_order=order,
    )


def infer_predictor(
    state: dict[str, torch.Tensor], path: str, encoder: EncoderArch
) -> PredictorArch:
    """Predictor architecture; geometry and head count come from its encoder (official quirk)."""
    embed = _require(state, "predictor_embed.weight", path, "JEPA predictor")
    if "predictor_pos_embed" not in state:
        raise UnsupportedCheckpointError(
            path, "the predictor has no 'predictor_pos_embed' (RoPE predictor, V-JEPA 2): "
            "not supported yet",
        )
    width, enc_width = embed.shape
    if enc_width != encoder.embed_dim:
        raise CheckpointError(
            path, f"predictor reads width {enc_width}, encoder has {encoder.embed_dim}"
        )
    video = encoder.num_frames > 1
    _, up, order = infer_grid(
        state["predictor_pos_embed"], path, "predictor_pos_embed", video, encoder.patch_size,
        encoder.tubelet_size, encoder.num_frames, encoder.img_size, None, encoder.pos_order,
    )
    single = "mask_token" in state
    return PredictorArch(
        img_size=encoder.img_size, patch_size=encoder.patch_size, num_frames=encoder.num_frames,
        tubelet_size=encoder.tubelet_size, embed_dim=encoder.embed_dim,
        predictor_embed_dim=width, depth=block_count(state, "predictor_blocks.", path),
        num_heads=heads_for_width(width, encoder.num_heads, path),
        mlp_ratio=_mlp_ratio(state, "predictor_blocks.0.mlp.fc1.weight", width),
        qkv_bias="predictor_blocks.0.attn.qkv.bias" in state, uniform_power=up,
        pos_order=order, mask_token_layout="single" if single else "per_config",
        num_mask_tokens=1 if single else _mask_token_count(state, path),
    )


def _mask_token_count(state: dict[str, torch.Tensor], path: str) -> int:
    indices = sorted(int(k.split(".")[1]) for k in state if re.fullmatch(r"mask_tokens\.\d+", k))
    if not indices or indices != list(range(len(indices))):
        raise CheckpointError(path, f"predictor mask tokens are not 0..n-1: {indices}")
    return len(indices)


def infer_probe(
    state: dict[str, torch.Tensor], path: str, num_heads: int | None, apply_proj: bool
) -> ProbeArch:
    """Attentive-classifier architecture of a stripped probe state dict."""
    queries = _require(state, "pooler.query_tokens", path, "attentive probe")
    prefix = "pooler.cross_attention_block."
    if f"{prefix}xattn.q.weight" not in state:
        raise UnsupportedCheckpointError(
            path, "probe pooler without a complete cross-attention block "
            "(complete_block=False) is not supported",
        )
    if queries.dim() != 3 or queries.shape[:2] != (1, 1):
        raise CheckpointError(
            path, f"pooler.query_tokens has shape {list(queries.shape)}; an attentive "
            "classifier has one query [1, 1, D]",
        )
    width = queries.shape[-1]
    linear = _require(state, "linear.weight", path, "attentive classifier")
    return ProbeArch(
        embed_dim=width, num_heads=heads_for_width(width, num_heads, path),
        num_classes=linear.shape[0], mlp_ratio=_mlp_ratio(state, f"{prefix}mlp.fc1.weight", width),
        depth=1 + block_count(state, "pooler.blocks.", path),
        qkv_bias=f"{prefix}xattn.q.bias" in state, apply_proj=apply_proj,
    )
