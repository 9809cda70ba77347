"""The training loop: epochs of `ipe` optimizer steps over the step-indexed data, monitoring,
checkpoints and resume."""

from __future__ import annotations

import logging
import math
import resource
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

import vjepa
from vjepa.checkpoints.errors import WriteError
from vjepa.data.bad_samples import BadSampleTracker
from vjepa.distributed import DistEnv, gather_objects
from vjepa.jepa import JEPA
from vjepa.masks.collator import MaskCollator
from vjepa.seeding import derive_seed
from vjepa.train import workers
from vjepa.train.build import WORKERS
from vjepa.train.checkpoint import (
    FORMAT,
    LATEST,
    capture_rng,
    load_for_resume,
    remove_stale_temps,
    restore_rng,
    save_checkpoint,
)
from vjepa.train.config import TrainConfig, recipe_changes, to_plain
from vjepa.train.data import StepBatchSampler, make_loader
from vjepa.train.logs import METRICS_CSV, MetricsWriter, last_logged_loss
from vjepa.train.monitor import MetricSums, collapse_indicators
from vjepa.train.nonfinite import NonFiniteCounter
from vjepa.train.optim import apply_schedule, load_optimizer_state
from vjepa.train.plots import plot_metrics
from vjepa.train.schedules import Schedules
from vjepa.train.signals import Interrupted, StopRequests
from vjepa.train.step import StepResult, optimizer_step
from vjepa.train.throughput import StepClock, ThroughputWindow

log = logging.getLogger("vjepa.train")


@dataclass
class Trainer:
    cfg: TrainConfig  # typed (hydra_config.typed): Enum members, dataclasses
    env: DistEnv
    device: torch.device
    run_dir: Path
    model: JEPA
    forward: nn.Module  # the model or its DDP wrapper
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler | None
    schedules: Schedules
    sampler: StepBatchSampler
    collator: MaskCollator
    dataset: Any
    ipe: int
    total_steps: int
    step: int = 0
    last_loss: float = math.nan
    tracker: BadSampleTracker = field(default_factory=BadSampleTracker)
    sums: MetricSums = field(default_factory=MetricSums)
    stop: StopRequests = field(default_factory=StopRequests)
    window_start: float = 0.0  # throughput window: start time and samples since
    window_samples: int = 0
    probe: Any = None  # vjepa.train.probe_eval.InTrainingProbe (rank 0, probe.every > 0)
    nonfinite: NonFiniteCounter | None = None  # None: built from cfg.optim.max_nonfinite
    meter: ThroughputWindow | None = None  # None: compute time only, FLOP columns NaN

    def __post_init__(self) -> None:
        if self.nonfinite is None:
            self.nonfinite = NonFiniteCounter(self.cfg.optim.max_nonfinite, self.run_dir)
        if self.meter is None:
            self.meter = ThroughputWindow(None, StepClock(self.device))

    # ---- checkpoints -------------------------------------------------------------------
    def state(self) -> dict:
        """Checkpoint dict (see vjepa.train.checkpoint); collective: every rank must call."""
        self.settle()
        rng = gather_objects(capture_rng())
        accum = self.cfg.optim.accum_steps
        return {
            "encoder": self.model.encoder.state_dict(),
            "predictor": self.model.predictor.state_dict(),
            "target_encoder": self.model.target_encoder.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "step": self.step, "epoch": self.step // self.ipe, "rng": rng,
            "sampler": {"micro_step": self.step * accum, "accum_steps": accum, "ipe": self.ipe},
            "config": to_plain(self.cfg),
            "version": vjepa.__version__, "format": FORMAT,
            "extra": {"bad_samples": self.tracker.state_dict(),
                      "nonfinite_total": self.nonfinite.total},
        }

    def save(self) -> None:
        state = self.state()
        if self.env.is_main:
            keep_every = self.cfg.logging.keep_every
            keep = bool(keep_every) and self.step % keep_every == 0
            path = save_checkpoint(state, self.run_dir, keep)
            log.info("checkpoint step %d -> %s%s", self.step, path, " (kept)" if keep else "")
            self.plot()

    def resume(self) -> bool:
        """Load `latest.pt` of the run folder if there is one (or, with resume_fallback, the
        newest good kept copy when latest.pt is corrupted)."""
        if self.env.is_main:
            for stale in remove_stale_temps(self.run_dir):
                log.warning("removed %s, left by an interrupted checkpoint write", stale)
        found = load_for_resume(self.run_dir, self.cfg.resume_fallback)
        if found is None:
            return False
        path, state = found
        self.check_recipe(state["config"], path)
        self.model.encoder.load_state_dict(state["encoder"])
        self.model.predictor.load_state_dict(state["predictor"])
        self.model.target_encoder.load_state_dict(state["target_encoder"])
        load_optimizer_state(self.optimizer, state["optimizer"])
        if (self.scaler is None) != (state["scaler"] is None):
            raise ValueError(f"checkpoint {path} was written with dtype "
                             f"{state['config']['optim']['dtype']}, this run uses "
                             f"{self.cfg.optim.dtype} (GradScaler state does not match)")
        if self.scaler is not None:
            self.scaler.load_state_dict(state["scaler"])
        self.step = int(state["step"])
        self.tracker.load_state_dict(state["extra"]["bad_samples"])
        self.nonfinite.total = int(state["extra"]["nonfinite_total"])
        if len(state["rng"]) == self.env.world_size:
            restore_rng(state["rng"][self.env.rank])
        else:
            log.warning("checkpoint has RNG states of %d ranks, this run has %d: global "
                        "generators not restored", len(state["rng"]), self.env.world_size)
        log.info("resumed from %s at step %d (epoch %d)", path, self.step, state["epoch"])
        return True

    def check_recipe(self, saved: dict, path: Path) -> None:
        changes = recipe_changes(saved, to_plain(self.cfg))
        was, now = saved.get("experiment"), self.cfg.experiment
        if not changes:
            if was != now:
                log.warning("resuming %s (experiment %s) as experiment %s: same recipe values",
                            path, was, now)
            return
        listing = "; ".join(f"{k}: {a!r} -> {b!r}" for k, a, b in
                            ((k, *v) for k, v in changes.items()))
        if was != now:  # the change that explains the others
            listing = (f"experiment: {was!r} -> {now!r}, another recipe, so {len(changes)} "
                       f"recipe keys differ: {listing}")
        if self.cfg.resume_check:
            raise ValueError(
                f"resuming {path} with a changed recipe ({listing}); `vjepa train "
                f"run_dir={self.run_dir}` alone resumes it with its own config "
                f"({self.run_dir / 'config.yaml'}); resume_check=false accepts the change"
            )
        log.warning("resuming with a changed recipe: %s", listing)

    def plot(self) -> None:
        if self.cfg.logging.plots and (self.run_dir / METRICS_CSV).is_file():
            plot_metrics(self.run_dir / METRICS_CSV, self.run_dir / "plots")

    # ---- the loop ----------------------------------------------------------------------
    def epoch_batches(self, epoch: int, stop: int):  # noqa: ANN201 (a generator)
        """(micro-batches of one step, data-wait seconds) for steps [self.step, stop); a
        loader whose worker died is reopened at the step it lost (vjepa.train.workers)."""
        self.dataset.set_epoch(epoch)
        return workers.step_batches(lambda start: self.open_loader(epoch, start, stop),
                                    self.step, stop, self.cfg.optim.accum_steps,
                                    self.tracker.worker_died, self.describe_step)

    def open_loader(self, epoch: int, start: int, stop: int):  # noqa: ANN201 (an iterator)
        accum, d = self.cfg.optim.accum_steps, self.cfg.data
        self.sampler.set_range(start * accum, stop * accum)
        loader = make_loader(self.dataset, self.sampler, self.collator, d.num_workers,
                             d.pin_memory and self.device.type == "cuda",
                             derive_seed(self.cfg.seed, WORKERS, epoch))
        return workers.start(loader)

    def describe_step(self, step: int) -> str:
        """The files of this rank's batches at `step` (when a worker dies there)."""
        accum = self.cfg.optim.accum_steps
        keys = [k for m in range(step * accum, (step + 1) * accum) for k in self.sampler.batch(m)]
        paths = sorted({self.dataset.samples[i].path for i, _ in keys})
        return f"files: {', '.join(paths)}"

    def run_step(self, micro: list, data_s: float) -> StepResult:
        self.meter.clock.start()
        o, step = self.cfg.optim, self.step
        lr, wd, momentum = (self.schedules.lr(step), self.schedules.wd(step),
                            self.schedules.momentum(step))
        apply_schedule(self.optimizer, lr, wd)
        clip = o.clip_grad if step // self.ipe > o.warmup else None  # official: after warmup
        for batch, _, _ in micro:
            self.tracker.update(batch["bad"], len(batch["video"]))
        result = optimizer_step(self.model, self.forward, [(b, e, p) for b, e, p in micro],
                                self.optimizer, self.scaler, self.device, o.dtype, clip,
                                momentum)
        self.meter.clock.stop()
        self.meter.add_step(self.model, micro)
        values = {"lr": lr, "wd": wd, "momentum": momentum, "data_s": data_s,
                  "context_tokens": result.num_context, "target_tokens": result.num_target}
        measured = {"loss": result.loss, "grad_norm_encoder": result.grad_norm_encoder,
                    "grad_norm_predictor": result.grad_norm_predictor}
        if isinstance(result.finite, torch.Tensor):  # decided on the device: read later
            self.nonfinite.defer(step, result.finite)
            for name, value in measured.items():
                self.sums.add_masked(name, value, result.finite)
            if self.read_due(step + 1):
                self.settle()
        else:
            self.nonfinite.count(result.finite, step)
            if result.finite:  # a skipped step's loss and gradients would poison the means
                values.update(measured)
        for name, value in values.items():
            self.sums.add(name, value)
        return result

    def read_due(self, step: int) -> bool:
        """Whether the step that ends at `step` reads device values: a metric row, a
        checkpoint or the last step."""
        lg = self.cfg.logging
        return (step % lg.log_every == 0 or step % lg.checkpoint_every == 0
                or step >= self.total_steps)

    def settle(self) -> None:
        """Count the pending device finite flags (one read)."""
        self.nonfinite.settle()

    def save_periodic(self) -> bool:
        """A scheduled checkpoint. A failed write (disk full, read-only: the previous file is
        intact) is logged and training goes on from its in-memory state, to try again at the
        next checkpoint; the final one raises. Returns whether it was written."""
        try:
            self.save()
        except WriteError as error:
            if self.step >= self.total_steps:
                raise
            log.error("step %d: checkpoint not written: %s; training goes on from memory, "
                      "next attempt at step %d", self.step, error,
                      self.step + self.cfg.logging.checkpoint_every)
            return False
        return True

    def stop_if_requested(self, saved: bool) -> None:
        """After a step: on a stop signal (any rank), checkpoint this step unless `saved`
        already, then raise Interrupted. Signals are caught while `self.stop` is entered."""
        signum = self.stop.requested(self.device)
        if signum is None:
            return
        if not saved:
            self.save()
        path = self.run_dir / "checkpoints" / LATEST
        raise Interrupted(signum, self.step, self.total_steps, self.run_dir, path)

    def log_row(self, result: StepResult, window_s: float, samples: int) -> dict[str, float]:
        row: dict[str, float] = {"step": self.step, "epoch": (self.step - 1) // self.ipe}
        row.update(dict.fromkeys(("loss", "grad_norm_encoder", "grad_norm_predictor"), math.nan))
        row.update(self.sums.read())  # the columns stay fixed when a window had only skips
        if result.finite:
            row.update({k: float(v) for k, v in collapse_indicators(result.targets).items()})
        else:  # the batch of a skipped step says nothing about the features
            row.update(dict.fromkeys(("std_samples", "std_tokens", "eff_rank"), math.nan))
        row["samples_per_s"] = samples / window_s if window_s > 0 else math.nan
        row.update(self.meter.read(window_s, self.device))
        row["peak_mem_mib"] = peak_memory_mib(self.device)
        row["nonfinite_total"] = self.nonfinite.total
        if self.probe is not None:
            row.update(self.probe.columns())
        self.last_loss = row.get("loss", math.nan)
        lg = self.cfg.logging
        for name, floor in (("std_samples", lg.floor_std_samples),
                            ("std_tokens", lg.floor_std_tokens), ("eff_rank", lg.floor_rank)):
            if row[name] < floor:
                log.warning("step %d: collapse indicator %s = %.4g below its floor %.4g",
                            self.step, name, row[name], floor)
        return row

    def maybe_log(self, result: StepResult, writer: MetricsWriter | None, bar: tqdm) -> None:
        """Every log_every steps (and at the end): one metric row, the host reads it needs."""
        if self.step % self.cfg.logging.log_every and self.step != self.total_steps:
            return
        now = time.perf_counter()
        row = self.log_row(result, now - self.window_start, self.window_samples)
        self.window_start, self.window_samples = now, 0
        if writer is not None:
            writer.write(row)
        bar.set_postfix(loss=f"{row['loss']:.4f}", std_tok=f"{row['std_tokens']:.3f}")

    def train(self) -> dict[str, Any]:
        """Run from self.step to total_steps; returns the summary of `run`. The bad-sample
        report is written however the loop ends (an error included)."""
        lg, main = self.cfg.logging, self.env.is_main
        writer = MetricsWriter(self.run_dir, self.step, lg.tensorboard) if main else None
        bar = tqdm(total=self.total_steps, initial=self.step, disable=not (main and lg.progress),
                   unit="step", dynamic_ncols=True)
        # log lines go through tqdm.write while the bar is up, so they never glue onto it
        redirect = logging_redirect_tqdm([logging.root]) if not bar.disable else nullcontext()
        try:
            with redirect:
                self.loop(writer, bar)
        finally:
            bar.close()
            if writer is not None:
                writer.close()
            if main:
                self.tracker.report(self.run_dir / "bad_samples.json")
                log.info(self.tracker.summary())
        if main:
            self.plot()
        return self.summary()

    def loop(self, writer: MetricsWriter | None, bar: tqdm) -> None:
        lg = self.cfg.logging
        per_step = self.cfg.data.batch_size * self.cfg.optim.accum_steps * self.env.world_size
        self.window_start, self.window_samples = time.perf_counter(), 0
        if self.probe is not None:
            self.probe.start(self.model.target_encoder, self.step)
        while self.step < self.total_steps:
            epoch = self.step // self.ipe
            for micro, data_s in self.epoch_batches(epoch, min((epoch + 1) * self.ipe,
                                                               self.total_steps)):
                result = self.run_step(micro, data_s)
                self.step += 1
                self.window_samples += per_step
                bar.update()
                if self.probe is not None:
                    self.probe.after_step(self.model.target_encoder, self.step, self.ipe,
                                          self.total_steps)
                self.maybe_log(result, writer, bar)
                saved = (self.step % lg.checkpoint_every == 0
                         or self.step == self.total_steps) and bool(result.finite)
                if saved:
                    saved = self.save_periodic()
                self.stop_if_requested(saved)

    def finished(self) -> dict[str, Any]:
        """A resumed run that has nothing left to train: say so, with its last logged loss."""
        last = last_logged_loss(self.run_dir / METRICS_CSV)
        if last is not None:
            self.last_loss = last[1]
        said = (f"last logged loss {last[1]:.4f} at step {last[0]} ({METRICS_CSV})"
                if last else f"no loss logged in {METRICS_CSV}")
        early = self.total_steps < self.cfg.optim.epochs * self.ipe  # stopped by max_steps
        log.info("run %s is already complete: step %d of %d; %s. Nothing to train%s",
                 self.run_dir, self.step, self.total_steps, said,
                 " (raise optim.max_steps to go on)" if early else "")
        return self.summary()

    def summary(self) -> dict[str, Any]:
        out = {"step": self.step, "loss": self.last_loss, "run_dir": str(self.run_dir),
               "rank": self.env.rank, "nonfinite_total": self.nonfinite.total}
        if self.probe is not None and self.probe.last:
            out["probe"] = self.probe.summary()
            log.info(self.probe.report())
        return out


def peak_memory_mib(device: torch.device) -> float:
    """Peak allocated GPU memory, or the process's peak resident set size on the CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
