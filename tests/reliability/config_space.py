"""The override space of the recipes for the bad-configuration tests (no tests here): every
leaf key of a composed recipe with the kind of value its schema takes, and composing many
override sets inside one Hydra initialisation (it is the slow part)."""

from __future__ import annotations

import dataclasses
import enum
import typing
from functools import cache
from types import UnionType

from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from omegaconf import DictConfig, OmegaConf

from vjepa.eval.config import EvalConfig
from vjepa.eval.main import _register as register_eval
from vjepa.eval.main import config_dir as eval_dir
from vjepa.train.config import TrainConfig
from vjepa.train.hydra_config import config_dir, register_schema

__test__ = False

TRAIN_RECIPES = sorted(p.stem for p in (config_dir() / "experiment").glob("*.yaml"))
EVAL_RECIPES = sorted(p.stem for p in (eval_dir() / "experiment").glob("*.yaml"))
TRAIN_BASE = ["data.sources=[]"]  # the recipes that train on your data need a source
EVAL_BASE = ["checkpoint=enc.pth.tar", "data.train=synthetic", "data.val=synthetic"]
SKIPPED = ("slurm", "hydra")  # cluster settings: their own group, checked at submission


def _kind(hint: object) -> str:
    """int | float | bool | str | enum | list | dict | node, Optional stripped."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) in (typing.Union, UnionType):
        hint = args[0]
    origin = typing.get_origin(hint)
    if origin in (list, dict):
        return origin.__name__
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return "enum"
    if dataclasses.is_dataclass(hint):
        return "node"
    return hint.__name__ if isinstance(hint, type) else "other"


def schema_kinds(schema: type, prefix: str = "") -> dict[str, str]:
    """Dotted key -> kind for every field of a config dataclass (lists of nodes: `[]`)."""
    out: dict[str, str] = {}
    for f in dataclasses.fields(schema):
        hint = typing.get_type_hints(schema)[f.name]
        kind, key = _kind(hint), prefix + f.name
        if kind == "node":
            out.update(schema_kinds(hint, f"{key}."))
        elif kind == "list" and dataclasses.is_dataclass(typing.get_args(hint)[0]):
            out.update(schema_kinds(typing.get_args(hint)[0], f"{key}.[]."))
        else:
            out[key] = kind
    return {k: v for k, v in out.items() if not k.startswith(SKIPPED)}


@cache
def recipe_leaves(command: str, recipe: str) -> dict[str, str]:
    """Every leaf key of a composed recipe (list items numbered) -> its kind."""
    schema = TrainConfig if command == "train" else EvalConfig
    cfg = compose_with(command, recipe, [])
    kinds = schema_kinds(schema)
    out: dict[str, str] = {}
    for key, kind in kinds.items():
        if ".[]." in key:
            head, tail = key.split(".[].")
            for i in range(len(OmegaConf.select(cfg, head))):
                out[f"{head}.{i}.{tail}"] = kind
        else:
            out[key] = kind
    return out


def compose_with(command: str, recipe: str, overrides: list[str]) -> DictConfig:
    """`vjepa <command> experiment=<recipe> <base> <overrides>` composed (not finalized)."""
    base, root = (TRAIN_BASE, config_dir()) if command == "train" else (EVAL_BASE, eval_dir())
    register_schema()
    register_eval()
    with initialize_config_dir(config_dir=str(root), version_base="1.3"):
        return hydra_compose(config_name=command, overrides=[f"experiment={recipe}", *base,
                                                             *overrides])


def message(error: BaseException) -> str:
    """An error with its causes (Hydra wraps OmegaConf's, which names the full key)."""
    parts = []
    while error is not None:
        parts.append(str(error))
        error = error.__cause__
    return " | ".join(parts)


def section_of(key: str) -> tuple[str, str]:
    """('mask.video[0]', 'num_blocks') for mask.video.0.num_blocks: how errors name keys."""
    head, _, leaf = key.rpartition(".")
    parts = head.split(".")
    if parts and parts[-1].isdigit():
        head = f"{'.'.join(parts[:-1])}[{parts[-1]}]"
    return head, leaf
