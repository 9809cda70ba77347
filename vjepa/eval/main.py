"""`vjepa eval`: frozen-encoder evaluation (attentive / linear probes, k-NN), Hydra-driven.

    vjepa eval experiment=video_tiny checkpoint=runs/vjepa_tiny/<run>/checkpoints/latest.pt
    vjepa eval experiment=k400_16x8x3 checkpoint=vitl16.pth.tar data.train=... data.val=...
    vjepa eval ... launcher=slurm slurm.nodes=8 slurm.gpus_per_node=8   # one Slurm job
    vjepa eval -m ... hydra/launcher=vjepa_slurm probe.order=vjepa,vjepa2  # a job array

Recipes: configs/eval/experiment/. The run folder (`run_dir`, default
runs/eval/<experiment>/<UTC time>-<tag>) holds config.yaml, eval.log, results.json,
metrics.csv, tensorboard/, plots/, probe/ (latest.pt: resumable per epoch; chosen.pt: the
chosen head in the official probe layout) and features/ (the feature cache). A run folder
with probe/latest.pt resumes.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import hydra
from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf

from vjepa import distributed
from vjepa.eval.config import EvalConfig, validate
from vjepa.train.hydra_config import config_dir as train_config_dir
from vjepa.train.main import resolve_run_dir, run_folder

log = logging.getLogger("vjepa.eval")
SCHEMA_NAME = "eval_schema"
PRIMARY_NAME = "eval"


def config_dir() -> Path:
    return train_config_dir() / "eval"


def _register() -> None:
    ConfigStore.instance().store(name=SCHEMA_NAME, node=EvalConfig)


def compose(overrides: Sequence[str] = ()) -> DictConfig:
    """configs/eval/eval.yaml composed with command-line style overrides (outside Hydra main)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    _register()
    with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
        return hydra_compose(config_name=PRIMARY_NAME, overrides=list(overrides))


def finalize(cfg: DictConfig) -> DictConfig:
    """Resolve interpolations (a missing `???` raises with its key) and validate."""
    plain = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
    resolved = OmegaConf.merge(OmegaConf.structured(EvalConfig), plain)
    validate(resolved)
    return resolved


def run(cfg: DictConfig) -> dict[str, Any]:
    """One evaluation in this process / rank; returns the results (also in results.json)."""
    from vjepa.eval.engine import setup
    from vjepa.eval.protocols import run_knn, run_probe

    cfg = finalize(cfg)
    env = distributed.read_env()
    device = distributed.select_device(env, cfg.device)
    distributed.init_process_group(env, device)
    try:
        run_dir = Path(distributed.broadcast_object(resolve_run_dir(cfg)))
        cfg.run_dir = str(run_dir)
        with run_folder(run_dir, "vjepa eval", env, "eval.log"):
            if env.is_main:
                OmegaConf.save(cfg, run_dir / "config.yaml", resolve=True)
            distributed.barrier()
            ctx = setup(cfg, env, device, run_dir)
            log.info("eval %s: %s probe on %s, %d classes, world size %d", run_dir,
                     cfg.probe.protocol, device, ctx.num_classes, env.world_size)
            return run_knn(ctx) if cfg.probe.protocol == "knn" else run_probe(ctx)
    finally:
        distributed.destroy_process_group()


def summary_line(results: dict) -> str:
    t, v = results["test"], results["videos"]["test"]
    return (f"{results['experiment']}: {results['protocol']} head {results['chosen_head']} "
            f"({results['chosen_by']}): top-1 {t['top1']:.2f}% top-{t['top5_k']} "
            f"{t['top5']:.2f}% on {v['evaluated']} of {v['listed']} test samples "
            f"({v['failed']} failed)")


def _hydra_main(cfg: DictConfig) -> int:
    if cfg.launcher != "none":
        from vjepa.launch import submit

        finalize(cfg)
        cfg.run_dir = resolve_run_dir(cfg)
        submit(cfg, "vjepa.eval.main:run")
        return 0
    results = run(cfg)
    print(summary_line(results))
    print(f"results: {results['run_dir']}/results.json")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Hydra main; reads sys.argv (set by the `vjepa` dispatcher)."""
    _register()
    # the shared groups (slurm profiles, hydra/launcher) live in configs/
    sys.argv.append(f"hydra.searchpath=[file://{train_config_dir()}]")
    result: list[int] = []
    hydra.main(config_path=str(config_dir()), config_name=PRIMARY_NAME, version_base="1.3")(
        lambda cfg: result.append(_hydra_main(cfg))
    )()
    return max(result, default=0)


if __name__ == "__main__":
    sys.exit(main())
