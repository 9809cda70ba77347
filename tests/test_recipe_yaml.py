"""The Hydra-free recipe loader (GPU benchmark machine) gives Hydra's values for every recipe."""

from __future__ import annotations

import dataclasses
import json

import pytest
from omegaconf import OmegaConf

from vjepa.train.hydra_config import config_dir, load_recipe
from vjepa.train.recipe_yaml import load_recipe_plain

RECIPES = sorted(p.stem for p in (config_dir() / "experiment").glob("*.yaml"))
RESOLVED = ("data.cache_dir",)  # an interpolation Hydra resolves and the plain loader keeps


def plain(tree: dict) -> dict:
    tree = json.loads(json.dumps(tree, default=str))
    for key in RESOLVED:
        section, name = key.split(".")
        tree[section].pop(name)
    return tree


@pytest.mark.parametrize("name", RECIPES)
def test_plain_loader_equals_hydra(name):
    overrides = ["optim.lr=3e-4", "model.drop_path_rate=0.1"]
    want = OmegaConf.to_container(load_recipe(name, overrides), enum_to_str=True)
    got = dataclasses.asdict(load_recipe_plain(name, overrides))
    assert plain(got) == plain(want)


def test_plain_loader_names_bad_keys_and_values():
    with pytest.raises(ValueError, match=r"model: unknown keys \['widht'\]"):
        load_recipe_plain("vjepa_tiny", ["model.widht=3"])
    with pytest.raises(ValueError, match="optim.dtype='bf16': must be one of"):
        load_recipe_plain("vjepa_tiny", ["optim.dtype=bf16"])
    with pytest.raises(ValueError, match="recipe 'nope' not found"):
        load_recipe_plain("nope")
