"""Hydra side of the config: the schema in the ConfigStore, composing and finalising configs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue

from vjepa.train.build import check_buildable
from vjepa.train.config import TrainConfig, validate
from vjepa.train.failures import SOURCES_HINT

SCHEMA_NAME = "train_schema"
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


def load_recipe(name: str, overrides: Sequence[str] = ()) -> DictConfig:
    """A recipe of configs/experiment/ composed, resolved and validated (benchmarks, tools).
    `data.sources` defaults to the synthetic set, so recipes that require it still load."""
    return finalize(compose([f"experiment={name}", "data.sources=[]", *overrides]))
