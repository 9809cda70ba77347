"""The official V-JEPA step trained on this package's data and masks, then probed like the
in-training probe of `vjepa train`: when a tiny recipe does not beat its random init, is it
the setting or our code?

    python benchmarks/official_learning.py --official .official/jepa --seed 0 \\
        --set optim.max_steps=640 --out runs/official_learning

Same recipe, seed, data order, crops and masks as `vjepa train experiment=<recipe> seed=<s>`
(this package's loader and mask collator feed the step); the step is facebookresearch/jepa's
(`official_step.vjepa_step`, modules imported from the checkout: their init, AdamW groups, lr
and weight-decay schedulers, clipping after the warmup epochs, per-parameter EMA), with the
EMA momentum of the recipe's linear schedule. Probed with the in-training probe's held-out
set and budget (the recipe's `probe.*`): the official encoder before the first step (its
random init) and the official target encoder after the last, each loaded with strict keys
into this package's VisionTransformer (the official checkpoint layout). Prints and writes
`<out>/official_seed<s>.json`. Needs no GPU; `--device cuda` where one is lent.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import official_step  # noqa: E402
from learning import card  # noqa: E402

from vjepa.checkpoints.layouts import strip_wrappers  # noqa: E402
from vjepa.seeding import derive_seed  # noqa: E402
from vjepa.train.build import DATA_ORDER, WORKERS, build_core, build_encoder  # noqa: E402
from vjepa.train.data import (  # noqa: E402
    StepBatchSampler,
    build_train_dataset,
    collate_untagged,
    data_sources,
    make_loader,
)
from vjepa.train.hydra_config import compose, finalize, typed  # noqa: E402
from vjepa.train.main import iterations_per_epoch, seed_globals, total_steps  # noqa: E402
from vjepa.train.probe_eval import labelled_set, probe_scores  # noqa: E402
from vjepa.train.schedules import make_schedules  # noqa: E402
from vjepa.train.step import to_device  # noqa: E402


def as_ours(cfg: Any, official_encoder: torch.nn.Module) -> torch.nn.Module:
    """The official (MultiMask-wrapped) encoder's weights in this package's encoder, strict."""
    encoder = build_encoder(cfg.model)
    state = strip_wrappers(official_encoder.state_dict(), "official encoder")
    encoder.load_state_dict({k: v.detach().cpu() for k, v in state.items()}, strict=True)
    return encoder


def momenta(cfg: Any, ipe: int) -> Iterator[float]:
    """The recipe's EMA momentum per step (linear, as the official schedule)."""
    o = cfg.optim
    s = make_schedules(ipe, o.epochs, o.ipe_scale, o.warmup, o.start_lr, o.lr, o.final_lr,
                       o.weight_decay, o.final_weight_decay, o.ema)
    return map(s.momentum, itertools.count())


def train(cfg: Any, root: Path, device: torch.device, log_every: int) -> dict[str, Any]:
    """Train the official step for the recipe's steps; probe before and after."""
    seed_globals(cfg.seed, 0)
    model, collator = build_core(cfg, 0, collate_untagged)
    dataset = build_train_dataset(cfg, data_sources(cfg.data))
    sampler = StepBatchSampler(len(dataset), cfg.data.batch_size,
                               derive_seed(cfg.seed, DATA_ORDER), 0, 1, dataset.sample_weights)
    ipe = iterations_per_epoch(cfg, len(dataset), 1)
    o = cfg.optim
    total = total_steps(o, ipe)
    step = official_step.vjepa_step(root, model, cfg, device, o.dtype, momenta(cfg, ipe),
                                    clip_from=(o.warmup + 1) * ipe)
    target = step.target_encoder
    data = labelled_set(cfg)
    init = probe_scores(as_ours(cfg, target).to(device), data, cfg.probe)
    print(f"step 0: official encoder (random init) {init}", flush=True)
    losses, t0 = [], time.perf_counter()
    for epoch in range(-(-total // ipe)):  # the Trainer's epochs: same batches and crops
        dataset.set_epoch(epoch)
        sampler.set_range(epoch * ipe, min((epoch + 1) * ipe, total))
        for batch, masks_enc, masks_pred in make_loader(
                dataset, sampler, collator, cfg.data.num_workers, False,
                derive_seed(cfg.seed, WORKERS, epoch)):
            losses.append(step(*to_device(batch, masks_enc, masks_pred, device)))
            if len(losses) % log_every == 0 or len(losses) == total:
                print(f"step {len(losses)}/{total}: loss {losses[-1]:.4f} "
                      f"({(time.perf_counter() - t0) / len(losses):.2f} s/step)", flush=True)
    final = probe_scores(as_ours(cfg, target).to(device), data, cfg.probe)
    print(f"step {total}: official target encoder {final}", flush=True)
    return {"steps": total, "loss_first": losses[0], "loss_last": losses[-1],
            "train_s": time.perf_counter() - t0, "random_init": init, "target": final}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--official", type=Path, required=True, help="facebookresearch/jepa")
    parser.add_argument("--recipe", default="vjepa_motion_tiny")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--log-every", type=int, default=20)
    parser.add_argument("--out", type=Path, default=Path("runs/official_learning"))
    args = parser.parse_args(argv)
    overrides = [f"experiment={args.recipe}", f"seed={args.seed}", *args.set]
    cfg = typed(finalize(compose(overrides)))
    if cfg.data.kind != "video":
        raise ValueError(f"official_learning runs the V-JEPA step; {args.recipe} is "
                         f"{cfg.data.kind!r} data")
    result = train(cfg, args.official, torch.device(args.device), args.log_every)
    doc = {"recipe": args.recipe, "seed": args.seed, "overrides": args.set, "card": card(),
           "command": " ".join([Path(sys.executable).name, *sys.argv]),
           "probe": {k: getattr(cfg.probe, k) for k in ("seed", "num_train", "num_test",
                                                       "epochs", "protocols")},
           **result}
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"official_seed{args.seed}.json"
    path.write_text(json.dumps(doc, indent=1, default=list))
    print(json.dumps(doc, indent=1, default=list))
    return 0


if __name__ == "__main__":
    sys.exit(main())
