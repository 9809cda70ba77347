"""Hydra side of the config: the schema in the ConfigStore, composing and finalising configs."""

from __future__ import annotations

from collections.abc import Sequence

from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue

from vjepa.train.build import check_buildable
from vjepa.train.config import TrainConfig
from vjepa.train.config_checks import validate
from vjepa.train.failures import SOURCES_HINT
from vjepa.train.recipe_yaml import PRIMARY_NAME, config_dir

__all__ = ["PRIMARY_NAME", "SCHEMA_NAME", "compose", "config_dir", "finalize", "load_recipe"]

SCHEMA_NAME = "train_schema"


def register_schema() -> None:
    """Store the TrainConfig schema; configs/train.yaml lists it first in its defaults."""
    ConfigStore.instance().store(name=SCHEMA_NAME, node=TrainConfig)


def compose(overrides: Sequence[str] = ()) -> DictConfig:
    """Compose configs/train.yaml with command-line style overrides (outside a Hydra main)."""
    register_schema()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        return hydra_compose(config_name=PRIMARY_NAME, overrides=list(overrides))


def missing_hint(key: str) -> str:
    """How to set a mandatory key the recipe leaves open (`???`)."""
    if key == "data.sources":
        return ("data.sources is not set: this recipe trains on your data, e.g. "
                f"'data.sources=[/data/k400/train.csv]' ({SOURCES_HINT})")
    return f"{key} is not set: this recipe needs it, e.g. {key}=<value> on the command line"


def finalize(cfg: DictConfig) -> DictConfig:
    """Resolve every interpolation (a missing `???` value raises with its key) and validate."""
    try:
        plain = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    except MissingMandatoryValue as error:
        raise MissingMandatoryValue(missing_hint(error.full_key)) from None
    resolved = OmegaConf.merge(OmegaConf.structured(TrainConfig), plain)
    validate(resolved)
    check_buildable(resolved)
    return resolved


def typed(cfg: DictConfig) -> TrainConfig:
    """A finalized config as the `TrainConfig` dataclass it was validated against (choices as
    Enum members, lists as lists): what the engine (builder, trainer) is handed."""
    out = OmegaConf.to_object(cfg)
    if not isinstance(out, TrainConfig):
        raise TypeError(f"expected a finalized TrainConfig, got {type(out).__name__}")
    return out


def load_recipe(name: str, overrides: Sequence[str] = ()) -> DictConfig:
    """A recipe of configs/experiment/ composed, resolved and validated (benchmarks, tools).
    `data.sources` defaults to the synthetic set, so recipes that require it still load."""
    return finalize(compose([f"experiment={name}", "data.sources=[]", *overrides]))
