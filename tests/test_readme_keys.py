"""Every `vjepa train` command and config key the README shows is accepted by the config
(composition + validation; nothing is trained)."""

from __future__ import annotations

import re
import shlex
from dataclasses import fields
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from vjepa.data.sampling import SHORT_POLICIES
from vjepa.train.config import TrainConfig
from vjepa.train.hydra_config import compose, config_dir, finalize
from vjepa.train.plots import COLUMNS
from vjepa.train.rerun import with_saved_config

README = Path(__file__).resolve().parents[1] / "README.md"
TOP_KEYS = {f.name for f in fields(TrainConfig)}
SECTIONS = ("model", "mask", "data", "optim", "logging", "speed", "dist", "slurm")
FILE_NAME = re.compile(r"\.(safetensors|json|pt|csv|yaml|py|tar|mp4|jpg|sh|md)$")


def train_commands(text: str) -> list[list[str]]:
    """The overrides of every `vjepa train ...` line of the README's bash blocks."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            words = shlex.split(line, comments=True)
            if words[:2] == ["vjepa", "train"]:
                commands.append([re.sub(r"<[^>]*>", "x", w) for w in words[2:]])
    return commands


TRAIN_SECTIONS = ("Run", "Training", "Data", "Cluster (Slurm)")  # `vjepa train` keys there


def section(text: str, name: str) -> str:
    start = text.index(f"\n## {name}\n")
    end = text.find("\n## ", start + 4)
    return text[start:end]


def inline_keys(text: str) -> list[str]:
    """Training config keys in inline code of the training sections (`optim.lr=1e-4`,
    `data.frame_step`, `logging.floor_*`); `vjepa eval` has its own config."""
    found = []
    prose = "".join(section(text, name) for name in TRAIN_SECTIONS)
    for span in re.findall(r"(?<!`)`([^`\n]+)`(?!`)", prose):
        for word in span.split():
            word = word.strip("'\"").rstrip(":,;")
            key = word.lstrip("+").split("=", 1)[0]
            group = key.split(".", 1)[0]
            dotted = "." in key and group in SECTIONS and not FILE_NAME.search(key)
            if dotted or ("=" in word and key in TOP_KEYS):
                found.append(word)
    return found


def schema_has(key: str) -> bool:
    """The key (with `*` wildcards, list indices) names a field of the schema."""
    node = OmegaConf.to_container(OmegaConf.structured(TrainConfig), throw_on_missing=False)
    for part in key.split("."):
        if part.endswith("*"):
            return isinstance(node, dict) and any(k.startswith(part[:-1]) for k in node)
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return False
    return True


def test_the_readme_shows_commands_and_keys():
    text = README.read_text()
    assert len(train_commands(text)) >= 6 and len(inline_keys(text)) >= 20
    assert ["experiment=vjepa_vitl16", "data.sources=[/data/k710.csv]"] in train_commands(text)


@pytest.mark.parametrize("overrides", train_commands(README.read_text()), ids=" ".join)
def test_readme_train_commands_compose_and_validate(overrides: list[str]) -> None:
    cfg = finalize(with_saved_config(compose(overrides), overrides))
    for word in overrides:
        key, value = word.lstrip("+").split("=", 1)
        if key in TOP_KEYS or "." in key:
            got = OmegaConf.select(cfg, key)
            assert got is not None, f"{word}: {key} not set"


@pytest.mark.parametrize("word", sorted(set(inline_keys(README.read_text()))))
def test_readme_inline_keys_exist_and_values_validate(word: str) -> None:
    key, _, value = word.lstrip("+").partition("=")
    assert schema_has(key), f"README names {key!r}, which is not a config key"
    if not value or "${" in value or "*" in key or value == "...":
        return
    value = value.split(",")[0] if not value.startswith("[") else value  # a sweep: one value
    override = f"{'+' if word.startswith('+') else ''}{key}={re.sub(r'<[^>]*>', 'x', value)}"
    extra = [] if key == "data.sources" else ["data.sources=[]"]
    finalize(compose([override, *extra]))


def bare_names(text: str, name: str) -> set[str]:
    """Bare `identifier` spans of one README section."""
    return set(re.findall(r"(?<!`)`([a-z_][a-z_0-9]*)`(?!`)", section(text, name)))


@pytest.mark.parametrize("name", ["Training", "Data"])
def test_config_prose_names_no_unqualified_keys(name: str) -> None:
    """The config sections of the README name keys in full (`data.frame_step`, not
    `frame_step`): a bare name there must be a config group, a recipe, a metric column or a
    short-video policy."""
    recipes = {p.stem for p in (config_dir() / "experiment").glob("*.yaml")}
    known = {*SECTIONS, *recipes, *COLUMNS, *SHORT_POLICIES, "defaults"}
    assert bare_names(README.read_text(), name) <= known
