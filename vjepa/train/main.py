"""`vjepa train`: the Hydra main, and `run(cfg)`, the whole training in this process / rank.

`vjepa train` with no arguments pretrains the tiny V-JEPA recipe on the synthetic video set
(made on first use in $VJEPA_CACHE or ~/.cache/vjepa). The run folder (`run_dir`, default
runs/<experiment>/<UTC time>-<tag>) holds config.yaml, version.txt, train.log, metrics.csv,
tensorboard/, plots/curves.png and checkpoints/; a run folder with checkpoints/latest.pt is
resumed.
"""

from __future__ import annotations

import hashlib
import logging
import random
import secrets
import shlex
import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import hydra
import numpy as np
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

import vjepa
from vjepa import distributed, runlock
from vjepa.data.bad_samples import BadSampleTracker
from vjepa.provenance import version_text
from vjepa.seeding import derive_seed
from vjepa.train.build import DATA_ORDER, GLOBALS, INIT, build_core, build_optim
from vjepa.train.config import OptimConfig, TrainConfig
from vjepa.train.data import (
    StepBatchSampler,
    build_train_dataset,
    collate_untagged,
    data_sources,
)
from vjepa.train.failures import check_sources, failure_logged
from vjepa.train.hydra_config import PRIMARY_NAME, config_dir, finalize, register_schema, typed
from vjepa.train.loop import Trainer
from vjepa.train.probe_eval import build_probe
from vjepa.train.rerun import SAVED_CONFIG, with_saved_config
from vjepa.train.signals import Interrupted
from vjepa.train.speed import apply as apply_speed
from vjepa.train.speed import resolve as resolve_speed
from vjepa.train.throughput import StepClock, StepFlops, ThroughputWindow

log = logging.getLogger("vjepa.train")


def resolve_run_dir(cfg: TrainConfig | DictConfig) -> str:
    """`run_dir`, or runs_root/<experiment>/<UTC time>-<random tag> (resolve once per run: rank
    0 does and broadcasts it; a launcher does before submitting)."""
    if cfg.run_dir:
        return str(Path(cfg.run_dir).expanduser().resolve())
    # the random tag keeps runs of a sweep started in the same second apart
    stamp = f"{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
    return str((Path(cfg.runs_root) / cfg.experiment / stamp).expanduser().resolve())


def log_to_file(run_dir: Path, name: str = "train.log") -> logging.Handler:
    """Send the package's log records to <run_dir>/<name> (remove the handler when done)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(run_dir / name)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger("vjepa").addHandler(handler)
    logging.getLogger("vjepa").setLevel(logging.INFO)
    return handler


@contextmanager
def run_folder(run_dir: Path, what: str, env: distributed.DistEnv, log_name: str
               ) -> Iterator[logging.Handler | None]:
    """Hold a run folder for one job (`vjepa train`, `vjepa eval`): its lock (rank 0 takes it
    before anything is written; every rank raises if it cannot) and the package's log records
    in <run_dir>/<log_name> (rank 0; the handler is yielded, None elsewhere), both released
    however the block ends."""
    handler = lock = None
    try:
        lock = runlock.acquire_for_job(run_dir, what, env)
        if env.is_main:
            handler = log_to_file(run_dir, log_name)
        yield handler
    finally:
        if handler is not None:
            logging.getLogger("vjepa").removeHandler(handler)
            handler.close()
        if lock is not None:
            runlock.release(lock)


def write_run_files(cfg: TrainConfig, run_dir: Path) -> None:
    """The resolved config and the versions this (possibly resumed) run trains with."""
    OmegaConf.save(cfg, run_dir / SAVED_CONFIG, resolve=True)
    versions = {"vjepa": vjepa.__version__, "torch": torch.__version__}
    (run_dir / "version.txt").write_text(version_text(versions))  # and the git commit


def iterations_per_epoch(cfg: TrainConfig, num_samples: int, world_size: int) -> int:
    if cfg.optim.ipe is not None:
        return int(cfg.optim.ipe)
    per_step = cfg.data.batch_size * cfg.optim.accum_steps * world_size
    return max(1, num_samples // per_step)


def total_steps(o: OptimConfig, ipe: int) -> int:
    """The run's optimizer steps: `epochs` x `ipe`, cut at `max_steps` when it is set."""
    return o.epochs * ipe if o.max_steps is None else min(o.max_steps, o.epochs * ipe)


def seed_globals(seed: int, rank: int) -> None:
    """Seed the global generators: torch the same on every rank (same initial weights), NumPy
    and Python per rank. The checkpoint carries their states on from there."""
    torch.manual_seed(derive_seed(seed, INIT))
    np.random.seed(derive_seed(seed, GLOBALS, rank) % 2**32)
    random.seed(derive_seed(seed, GLOBALS, rank))


def build_trainer(cfg: TrainConfig, env: distributed.DistEnv, device: torch.device,
                  run_dir: Path) -> Trainer:
    seed_globals(cfg.seed, env.rank)
    model, collator = build_core(cfg, env.rank, collate_untagged)
    model = model.to(device)
    speed = resolve_speed(cfg.speed, device)
    log.info("speed levers: %s", speed.describe())
    apply_speed(model, speed)
    forward = model
    if env.distributed:
        ids = [device.index] if device.type == "cuda" else None
        forward = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)
    o = cfg.optim
    scaler = torch.amp.GradScaler(device.type) if o.dtype == "float16" else None
    sources = data_sources(cfg.data) if env.is_main else None
    sources = distributed.broadcast_object(sources)  # rank 0 builds the synthetic set
    dataset = build_train_dataset(cfg, sources)
    sampler = StepBatchSampler(len(dataset), cfg.data.batch_size, derive_seed(cfg.seed, DATA_ORDER),
                               env.rank, env.world_size, dataset.sample_weights)
    ipe = iterations_per_epoch(cfg, len(dataset), env.world_size)
    optimizer, schedules = build_optim(model, o, ipe, speed.fused_adamw)
    total = total_steps(o, ipe)
    return Trainer(cfg, env, device, run_dir, model, forward, optimizer, scaler, schedules,
                   sampler, collator, dataset, ipe, total,
                   tracker=BadSampleTracker(cfg.data.max_bad_fraction),
                   probe=build_probe(cfg, run_dir) if env.is_main else None,
                   meter=ThroughputWindow(StepFlops(model), StepClock(device)))


def run(cfg: DictConfig) -> dict[str, Any]:
    """Train in this process (one rank of a distributed job, or alone). Returns a summary:
    final step, last logged loss, run_dir, rank, non-finite count, parameter digest."""
    cfg = typed(finalize(cfg))  # the engine gets the dataclasses, not a DictConfig
    check_sources(cfg.data)  # before any model or run folder exists
    env = distributed.read_env()
    device = distributed.select_device(env, cfg.dist.device)
    distributed.init_process_group(env, device, cfg.dist.backend, cfg.dist.timeout_s)
    try:
        run_dir = Path(distributed.broadcast_object(resolve_run_dir(cfg)))
        cfg.run_dir = str(run_dir)
        with run_folder(run_dir, "vjepa train", env, "train.log") as handler:
            distributed.barrier()
            with failure_logged(handler):  # the traceback of a failed run lands in train.log
                return train_in(cfg, env, device, run_dir)
    finally:
        distributed.destroy_process_group()


def train_in(cfg: TrainConfig, env: distributed.DistEnv, device: torch.device,
             run_dir: Path) -> dict[str, Any]:
    """Build, resume and train; a run that is already complete only says so."""
    trainer = build_trainer(cfg, env, device, run_dir)
    trainer.resume()  # checks the recipe against the checkpoint's first
    if trainer.step >= trainer.total_steps:
        summary = trainer.finished()
    else:
        if env.is_main:
            write_run_files(cfg, run_dir)
        log.info("run %s: %s, step %d of %d (%d per epoch), world size %d on %s", run_dir,
                 cfg.experiment, trainer.step, trainer.total_steps, trainer.ipe,
                 env.world_size, device)
        with trainer.stop:  # SIGTERM/USR1/USR2/INT: finish the step, checkpoint, stop
            summary = trainer.train()
    summary["param_digest"] = parameter_digest(trainer.model)
    return summary


def parameter_digest(module: torch.nn.Module) -> str:
    """SHA-256 of every parameter's bytes in name order (compares replicas bit for bit)."""
    h = hashlib.sha256()
    for name, p in sorted(module.state_dict().items()):
        h.update(name.encode())
        h.update(p.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def _hydra_main(cfg: DictConfig) -> int:
    cfg = with_saved_config(cfg, HydraConfig.get().overrides.task)  # run_dir=X resumes X
    if cfg.launcher != "none":
        from vjepa.launch import submit

        final = finalize(cfg)  # a bad value fails here, before anything is queued
        try:
            check_sources(final.data)
        except ValueError as error:  # this machine may not see the cluster's file systems
            log.warning("%s; submitting anyway (the job checks again before building)", error)
        cfg.run_dir = resolve_run_dir(cfg)  # one folder for all tasks and requeues
        submit(cfg, "vjepa.train.main:run")
        return 0
    try:
        summary = run(cfg)
    except Interrupted as stop:  # one line, not a traceback
        print(f"vjepa train: {stop}; resume with: {resume_command(stop.run_dir)}",
              file=sys.stderr)
        return stop.exit_code
    except KeyboardInterrupt:
        print("vjepa train: interrupted (Ctrl-C before training began, or twice); the run "
              "folder's last checkpoint is intact", file=sys.stderr)
        return 128 + signal.SIGINT
    log.info("done: step %d, last logged loss %.4f, run folder %s", summary["step"],
             summary["loss"], summary["run_dir"])
    return 0


def resume_command(run_dir: Path) -> str:
    """`vjepa train` with this run's command-line overrides and its run folder."""
    overrides = list(HydraConfig.get().overrides.task) if HydraConfig.initialized() else []
    kept = [o for o in overrides if not o.startswith("run_dir=")]
    return shlex.join(["vjepa", "train", *kept, f"run_dir={run_dir}"])


def main(argv: list[str] | None = None) -> int:
    """Hydra main; reads sys.argv (set by the `vjepa` dispatcher). `argv` is unused."""
    register_schema()
    result: list[int] = []

    def train(cfg: DictConfig) -> None:
        result.append(_hydra_main(cfg))

    hydra.main(config_path=str(config_dir()), config_name=PRIMARY_NAME, version_base="1.3")(
        train
    )()
    # A multirun on a remote launcher (Slurm) runs no job here: nothing failed locally. Hydra
    # itself exits non-zero when composition or a local job raises.
    return max(result, default=0)


if __name__ == "__main__":
    sys.exit(main())
