"""Architectures as plain, JSON-able records, and the modules they build."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from vjepa.models.attentive_probe import AttentiveClassifier
from vjepa.models.predictor import Predictor
from vjepa.models.vit import VisionTransformer


class _Record:
    """JSON round trip of an architecture dataclass (tuples become lists and back)."""

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)  # type: ignore[call-overload]
        if "img_size" in out:
            out["img_size"] = list(out["img_size"])
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Any:
        data = dict(data)
        if "img_size" in data:
            data["img_size"] = tuple(data["img_size"])
        names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        unknown, missing = sorted(set(data) - names), sorted(names - set(data))
        if unknown or missing:
            raise ValueError(f"{cls.__name__} config: unknown keys {unknown}, "
                             f"missing keys {missing}")
        return cls(**data)


@dataclass(frozen=True)
class EncoderArch(_Record):
    img_size: tuple[int, int]
    patch_size: int
    num_frames: int
    tubelet_size: int
    in_chans: int
    embed_dim: int
    depth: int
    num_heads: int
    mlp_ratio: float
    qkv_bias: bool
    uniform_power: bool
    pos_order: str

    def build(self) -> VisionTransformer:
        return VisionTransformer(
            img_size=self.img_size, patch_size=self.patch_size, num_frames=self.num_frames,
            tubelet_size=self.tubelet_size, in_chans=self.in_chans, embed_dim=self.embed_dim,
            depth=self.depth, num_heads=self.num_heads, mlp_ratio=self.mlp_ratio,
            qkv_bias=self.qkv_bias, uniform_power=self.uniform_power, pos_order=self.pos_order,
        )


@dataclass(frozen=True)
class PredictorArch(_Record):
    img_size: tuple[int, int]
    patch_size: int
    num_frames: int
    tubelet_size: int
    embed_dim: int
    predictor_embed_dim: int
    depth: int
    num_heads: int
    mlp_ratio: float
    qkv_bias: bool
    uniform_power: bool
    pos_order: str
    mask_token_layout: str
    num_mask_tokens: int

    def build(self) -> Predictor:
        return Predictor(
            img_size=self.img_size, patch_size=self.patch_size, num_frames=self.num_frames,
            tubelet_size=self.tubelet_size, embed_dim=self.embed_dim,
            predictor_embed_dim=self.predictor_embed_dim, depth=self.depth,
            num_heads=self.num_heads, mlp_ratio=self.mlp_ratio, qkv_bias=self.qkv_bias,
            uniform_power=self.uniform_power, pos_order=self.pos_order,
            mask_token_layout=self.mask_token_layout, num_mask_tokens=self.num_mask_tokens,
        )


@dataclass(frozen=True)
class ProbeArch(_Record):
    embed_dim: int
    num_heads: int
    num_classes: int
    mlp_ratio: float
    depth: int
    qkv_bias: bool
    apply_proj: bool

    def build(self) -> AttentiveClassifier:
        return AttentiveClassifier(
            embed_dim=self.embed_dim, num_heads=self.num_heads, num_classes=self.num_classes,
            mlp_ratio=self.mlp_ratio, depth=self.depth, qkv_bias=self.qkv_bias,
            apply_proj=self.apply_proj,
        )
