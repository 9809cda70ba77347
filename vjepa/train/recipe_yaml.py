"""Recipes without Hydra or OmegaConf: configs/experiment/<name>.yaml (with its `defaults:`
bases) merged over the TrainConfig schema into the dataclasses, overrides `key=value` as on the
command line, validated and built on the meta device as `load_recipe` does.

For tools that run where Hydra is not installed (the GPU benchmark machine); a test checks it
gives the values of `vjepa.train.hydra_config.load_recipe` for every recipe. Interpolations
(`${...}`) are not resolved: recipes hold none.
"""

from __future__ import annotations

import dataclasses
import enum
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from vjepa.train.config import TrainConfig
from vjepa.train.config_checks import validate

PRIMARY_NAME = "train"


def config_dir(package: Path | None = None) -> Path:
    """The recipes: the copy installed inside the package (vjepa/configs, from a wheel), else
    the repository's top-level `configs/` beside the package (a source checkout, `pip install
    -e`). `package`: the vjepa package folder (default: this one)."""
    package = package or Path(__file__).resolve().parents[1]
    for path in (package / "configs", package.parent / "configs"):
        if (path / f"{PRIMARY_NAME}.yaml").is_file():
            return path
    raise FileNotFoundError(
        f"config tree not found in {package / 'configs'} (installed) or "
        f"{package.parent / 'configs'} (source checkout); reinstall vjepa (`pip install .`)"
    )


def merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        out[key] = (merge(out[key], value) if isinstance(value, dict)
                    and isinstance(out.get(key), dict) else value)
    return out


def recipe_dict(name: str) -> dict:
    """The recipe file merged over its `defaults:` bases (in order, `_self_` last)."""
    path = config_dir() / "experiment" / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in path.parent.glob("*.yaml"))
        raise ValueError(f"recipe {name!r} not found in {path.parent}; known: {known}")
    own = yaml.safe_load(path.read_text()) or {}
    out: dict = {}
    for base in own.pop("defaults", []):
        if base != "_self_":
            out = merge(out, recipe_dict(base))
    return merge(out, own)


def set_key(tree: dict, override: str) -> None:
    """Apply `a.b.c=value` (value parsed as YAML) to a nested dict."""
    key, sep, raw = override.partition("=")
    if not sep or not key:
        raise ValueError(f"override {override!r} is not key=value")
    *parents, last = key.split(".")
    node = tree
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = yaml.safe_load(raw)


def build(cls: Any, values: Any, where: str = "") -> Any:
    """A (nested) dataclass, Enum or list of them from plain YAML values."""
    origin = typing.get_origin(cls)
    if dataclasses.is_dataclass(cls):
        if not isinstance(values, dict):
            raise ValueError(f"config {where or 'root'}: expected a mapping, got {values!r}")
        hints = typing.get_type_hints(cls)
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"config {where or 'root'}: unknown keys {unknown}")
        return cls(**{k: build(hints[k], v, f"{where}.{k}".lstrip(".")) for k, v in
                      values.items()})
    if origin is list and values is not None:
        (item,) = typing.get_args(cls)
        return [build(item, v, f"{where}[{i}]") for i, v in enumerate(values)]
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        inner = [a for a in typing.get_args(cls) if a is not type(None)]
        return None if values is None else build(inner[0], values, where)
    if isinstance(cls, type) and issubclass(cls, enum.Enum):
        try:
            return cls(values)
        except ValueError:
            raise ValueError(f"config {where}={values!r}: must be one of "
                             f"{[m.value for m in cls]}") from None
    if cls in (float, int) and isinstance(values, str | int | float) and not isinstance(
            values, bool):
        if cls is int and isinstance(values, float) and not values.is_integer():
            raise ValueError(f"config {where}={values!r}: must be an int")
        try:
            return cls(values)  # YAML reads 3e-4 as a string; the schema says float
        except ValueError:
            raise ValueError(f"config {where}={values!r}: must be a {cls.__name__}") from None
    return values


def load_recipe_plain(name: str, overrides: Sequence[str] = ()) -> TrainConfig:
    """A recipe as a validated TrainConfig; `data.sources` defaults to the synthetic set."""
    from vjepa.train.build import check_buildable

    tree = merge(recipe_dict(name), {"data": {"sources": []}})
    for override in overrides:
        set_key(tree, override)
    cfg = build(TrainConfig, tree)
    validate(cfg)
    check_buildable(cfg)
    return cfg
