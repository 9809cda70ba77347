"""Builders of tiny checkpoints in the official layouts (random tensors, official key names).

The key names and shapes are written out here by hand, from the official code, rather than
derived from this project's modules, so the loaders are checked against the official layout.
Position tables are the fixed sin-cos tables the official files hold.
"""

from __future__ import annotations

from pathlib import Path

import torch

from vjepa.models.pos_embed import sincos_2d, sincos_3d


def _rand(gen: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=gen) * 0.05


def _block(gen: torch.Generator, prefix: str, dim: int, hidden: int) -> dict[str, torch.Tensor]:
    shapes = {
        "norm1": (dim,), "attn.qkv": (3 * dim, dim), "attn.proj": (dim, dim), "norm2": (dim,),
        "mlp.fc1": (hidden, dim), "mlp.fc2": (dim, hidden),
    }
    sd = {}
    for name, shape in shapes.items():
        sd[f"{prefix}{name}.weight"] = _rand(gen, *shape) + (1 if name.startswith("norm") else 0)
        sd[f"{prefix}{name}.bias"] = _rand(gen, shape[0])
    return sd


def table(dim: int, grid: tuple[int, ...], uniform_power: bool, order: str) -> torch.Tensor:
    if len(grid) == 3:
        return sincos_3d(dim, *grid, uniform_power=uniform_power).float().unsqueeze(0)
    return sincos_2d(dim, *grid, order=order).float().unsqueeze(0)


def encoder_state(
    prefix: str, width: int = 192, depth: int = 2, patch: int = 8, img: int = 32,
    frames: int = 4, tubelet: int = 2, uniform_power: bool = True, order: str = "hw",
    mlp_ratio: float = 4.0, seed: int = 0,
) -> dict[str, torch.Tensor]:
    """An encoder state dict; frames == 1 gives the 2D (I-JEPA) layout."""
    gen = torch.Generator().manual_seed(seed)
    hidden = round(width * mlp_ratio)
    if frames > 1:
        grid: tuple[int, ...] = (frames // tubelet, img // patch, img // patch)
        kernel: tuple[int, ...] = (tubelet, patch, patch)
    else:
        grid, kernel = (img // patch, img // patch), (patch, patch)
    sd = {
        f"{prefix}patch_embed.proj.weight": _rand(gen, width, 3, *kernel),
        f"{prefix}patch_embed.proj.bias": _rand(gen, width),
        f"{prefix}pos_embed": table(width, grid, uniform_power, order),
    }
    for i in range(depth):
        sd.update(_block(gen, f"{prefix}blocks.{i}.", width, hidden))
    sd[f"{prefix}norm.weight"] = 1 + _rand(gen, width)
    sd[f"{prefix}norm.bias"] = _rand(gen, width)
    return sd


def predictor_state(
    prefix: str, width: int = 192, pred_width: int = 48, depth: int = 2,
    grid: tuple[int, ...] = (2, 4, 4), uniform_power: bool = True, order: str = "hw",
    num_mask_tokens: int | None = 2, seed: int = 1,
) -> dict[str, torch.Tensor]:
    """A predictor state dict; num_mask_tokens None gives I-JEPA's single `mask_token`."""
    gen = torch.Generator().manual_seed(seed)
    sd = {
        f"{prefix}predictor_embed.weight": _rand(gen, pred_width, width),
        f"{prefix}predictor_embed.bias": _rand(gen, pred_width),
        f"{prefix}predictor_pos_embed": table(pred_width, grid, uniform_power, order),
    }
    if num_mask_tokens is None:
        sd[f"{prefix}mask_token"] = _rand(gen, 1, 1, pred_width)
    else:
        for i in range(num_mask_tokens):
            sd[f"{prefix}mask_tokens.{i}"] = _rand(gen, 1, 1, pred_width)
    for i in range(depth):
        sd.update(_block(gen, f"{prefix}predictor_blocks.{i}.", pred_width, 4 * pred_width))
    sd[f"{prefix}predictor_norm.weight"] = 1 + _rand(gen, pred_width)
    sd[f"{prefix}predictor_norm.bias"] = _rand(gen, pred_width)
    sd[f"{prefix}predictor_proj.weight"] = _rand(gen, width, pred_width)
    sd[f"{prefix}predictor_proj.bias"] = _rand(gen, width)
    return sd


def probe_state(width: int = 192, num_classes: int = 5, extra_blocks: int = 0,
                seed: int = 2) -> dict[str, torch.Tensor]:
    """An official attentive-classifier state dict (DDP `module.` prefix)."""
    gen = torch.Generator().manual_seed(seed)
    p = "module.pooler.cross_attention_block."
    sd = {
        "module.pooler.query_tokens": _rand(gen, 1, 1, width) * 10,
        f"{p}norm1.weight": 1 + _rand(gen, width), f"{p}norm1.bias": _rand(gen, width),
        f"{p}xattn.q.weight": _rand(gen, width, width) * 4, f"{p}xattn.q.bias": _rand(gen, width),
        f"{p}xattn.kv.weight": _rand(gen, 2 * width, width) * 4,
        f"{p}xattn.kv.bias": _rand(gen, 2 * width),
        f"{p}xattn.proj.weight": _rand(gen, width, width) * 4,
        f"{p}xattn.proj.bias": _rand(gen, width),
        f"{p}norm2.weight": 1 + _rand(gen, width), f"{p}norm2.bias": _rand(gen, width),
        f"{p}mlp.fc1.weight": _rand(gen, 4 * width, width),
        f"{p}mlp.fc1.bias": _rand(gen, 4 * width),
        f"{p}mlp.fc2.weight": _rand(gen, width, 4 * width), f"{p}mlp.fc2.bias": _rand(gen, width),
        "module.linear.weight": _rand(gen, num_classes, width),
        "module.linear.bias": _rand(gen, num_classes),
    }
    for i in range(extra_blocks):
        sd.update(_block(gen, f"module.pooler.blocks.{i}.", width, 4 * width))
    return sd


def pretrain_file(path: Path, prefix: str, encoder: dict, predictor: dict) -> Path:
    """The official pretraining top level (jepa and ijepa share it)."""
    torch.save({
        "encoder": encoder, "predictor": predictor,
        "target_encoder": {k: v if k.endswith("pos_embed") else v + 0.01
                           for k, v in encoder.items()},
        "opt": {"state": {}, "param_groups": [{"lr": 1e-3, "params": [0, 1]}]},
        "scaler": None, "epoch": 7, "loss": 0.25, "batch_size": 4, "world_size": 1, "lr": 1e-3,
    }, path)
    return path


def vjepa_file(path: Path, **encoder_kwargs: object) -> Path:
    """A facebookresearch/jepa (V-JEPA) pretraining file: `module.backbone.` prefixes."""
    prefix = "module.backbone."
    enc = encoder_state(prefix, **encoder_kwargs)  # type: ignore[arg-type]
    return pretrain_file(path, prefix, enc, predictor_state(prefix))


def ijepa_file(path: Path) -> Path:
    """A facebookresearch/ijepa file: `module.` prefix, 2D "wh" tables, one `mask_token`."""
    enc = encoder_state("module.", frames=1, order="wh", uniform_power=False)
    pred = predictor_state("module.", grid=(4, 4), order="wh", uniform_power=False,
                           num_mask_tokens=None)
    return pretrain_file(path, "module.", enc, pred)


def probe_file(path: Path, **kwargs: object) -> Path:
    torch.save({"classifier": probe_state(**kwargs), "opt": {}, "scaler": None, "epoch": 20,
                "batch_size": 4, "world_size": 1, "lr": 1e-3}, path)  # type: ignore[arg-type]
    return path
