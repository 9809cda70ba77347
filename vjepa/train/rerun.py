"""`vjepa train run_dir=X`: a run folder's own resolved config is the base of its resumption.

The command line's other overrides go on top of it (and then through the recipe check against
the checkpoint). Choosing another `experiment` composes that recipe instead, so the check
reports the experiment as the change.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, OmegaConf

log = logging.getLogger("vjepa.train")

SAVED_CONFIG = "config.yaml"
# Where and how this command runs: always from the command line, never from the folder.
FROM_COMMAND = ("run_dir", "launcher", "resume_check")


def overridden_keys(overrides: Sequence[str]) -> list[str]:
    """Config keys (or groups, e.g. `slurm`) that command-line overrides set; Hydra's own
    (`hydra.*`, `hydra/launcher=...`) are left out."""
    parsed = OverridesParser.create().parse_overrides(list(overrides))
    keys = [o.key_or_group for o in parsed]
    return [k for k in keys if not (k == "hydra" or k.startswith(("hydra.", "hydra/")))]


def with_saved_config(cfg: DictConfig, overrides: Sequence[str]) -> DictConfig:
    """`cfg` (composed from the command line) unless `run_dir` names a folder with a saved
    config: then that config, with the keys the command line sets taken from `cfg`."""
    run_dir = OmegaConf.select(cfg, "run_dir")
    saved_path = Path(str(run_dir)).expanduser() / SAVED_CONFIG if run_dir else None
    if saved_path is None or not saved_path.is_file():
        return cfg
    saved = OmegaConf.load(saved_path)
    keys = overridden_keys(overrides)
    if "experiment" in keys and cfg.experiment != saved.get("experiment"):
        log.warning("run %s was experiment %s; composing experiment %s as asked (the resume "
                    "check compares it with the checkpoint)", run_dir, saved.get("experiment"),
                    cfg.experiment)
        return cfg
    for key in [*keys, *FROM_COMMAND]:
        OmegaConf.update(saved, key, OmegaConf.select(cfg, key), merge=False)
    log.info("resuming %s with its saved config %s%s", run_dir, saved_path,
             f" and the overrides {', '.join(keys)}" if set(keys) - {"run_dir"} else "")
    return saved
