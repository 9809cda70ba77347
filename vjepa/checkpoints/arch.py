"""Architectures as plain, JSON-able records, and the modules they build.

Each record's field names are the constructor arguments of its module, so `build()` passes
them one to one (an argument the module does not take raises).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, ClassVar

from torch import nn

from vjepa.models.attentive_probe import AttentiveClassifier
from vjepa.models.predictor import Predictor
from vjepa.models.vit import VisionTransformer


class _Record:
    """JSON round trip of an architecture dataclass (tuples become lists and back)."""

    module: ClassVar[type[nn.Module]]

    def build(self, **extra: Any) -> nn.Module:
        """The module; `extra`: constructor arguments outside the record (training-only
        options such as drop_path_rate)."""
        return self.module(**{f.name: getattr(self, f.name) for f in fields(self)},  # type: ignore[arg-type]
                           **extra)

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
class _Transformer(_Record):
    """Fields shared by the encoder and the predictor (geometry, blocks, position table)."""

    img_size: tuple[int, int]
    patch_size: int
    num_frames: int
    tubelet_size: int
    embed_dim: int
    depth: int
    num_heads: int
    mlp_ratio: float
    qkv_bias: bool
    uniform_power: bool
    pos_order: str


@dataclass(frozen=True)
class EncoderArch(_Transformer):
    in_chans: int
    module: ClassVar[type[nn.Module]] = VisionTransformer


@dataclass(frozen=True)
class PredictorArch(_Transformer):
    predictor_embed_dim: int
    mask_token_layout: str
    num_mask_tokens: int
    module: ClassVar[type[nn.Module]] = Predictor


@dataclass(frozen=True)
class ProbeArch(_Record):
    embed_dim: int
    num_heads: int
    num_classes: int
    mlp_ratio: float
    depth: int
    qkv_bias: bool
    apply_proj: bool
    module: ClassVar[type[nn.Module]] = AttentiveClassifier
