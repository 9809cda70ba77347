"""Does pretraining learn? Pretrain a tiny recipe, then probe its target encoder and a
random-init encoder of the same shape with the same probe budget, over several seeds.

    python benchmarks/learning.py --recipe vjepa_tiny --seeds 0 1 2
    python benchmarks/learning.py --recipe ijepa_tiny --seeds 0 1 2

Per seed: `vjepa train` of the recipe (seed=<s>, its in-training probe on, curves in the run
folder), then the benchmark's own probes on a fresh held-out synthetic set (seed 11, not the
in-training probe's): for video, an attentive probe (tokens) and a linear probe (mean-pooled)
on the motion direction; for images, linear probes on the shape class (semantic) and on the
object count (low-level), k-NN beside them (`--image-attentive`: an attentive probe too, a
diagnostic of whether the tokens hold what a pooled linear map cannot reach). The random-init
encoder is the run's own step-0 encoder (same seed, same builder), so the two differ only by
the pretraining. A third column probes raw pixels (each tubelet / patch flattened as a token,
the encoder's grid): the ceiling check of the probe itself. If the probe cannot read the label
from pixels, neither encoder's score says anything about its features. `--no-train` runs only
the random-init and pixel columns (seconds to minutes: is the probe budget able to read this
label at all?).

Prints the table (mean and spread over seeds), the commands and the machine card, and writes
`<out>/<recipe>/learning.json` and `<out>/<recipe>/curves_seed<s>.png` (probe accuracy next
to the loss). `--set key=value` overrides recipe keys for every seed (e.g. optim.max_steps=50
for a quick check). Run with one thread (OMP_NUM_THREADS=1) on a shared CPU.

Seeds run in parallel processes (one `--seeds s --out DIR_s` each) are put into one table with
`--collect DIR_0/<recipe>/learning.json DIR_1/... --out DIR`: the runs are pooled as they are,
nothing is retrained or re-probed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch
from omegaconf import OmegaConf

from vjepa.seeding import derive_seed
from vjepa.train.build import INIT, build_encoder
from vjepa.train.checkpoint import load_checkpoint
from vjepa.train.hydra_config import compose, finalize
from vjepa.train.main import run
from vjepa.train.probe_eval import LabelledSet, labelled_set, probe_scores, token_scores

# The benchmark's fixed probe budget, never tuned on a pretrained score. Raised from 1024 clips
# x 40 epochs when the ceiling check (--no-train) showed that 512 x 40 reads motion from raw
# pixels no better than chance (0.160), while 2048 x 100 reads it (pixels 0.695, random-init
# encoder 0.863): benchmarks/RESULTS.md, "Does pretraining learn?".
BUDGET = {"num_train": 2048, "num_test": 512, "seed": 11, "epochs": 100, "lr": 1e-3,
          "weight_decay": 0.01, "batch_size": 64, "k": 20}
DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")  # where the probes run
TASKS = {  # (name, probe.label, protocols) per data kind
    "video": [("direction", "class", ["attentive", "linear"])],
    "image": [("shape", "class", ["linear", "knn"]), ("count", "count", ["linear", "knn"])],
}


def tasks(kind: str, image_attentive: bool = False) -> list[tuple[str, str, list[str]]]:
    """The probe tasks of a data kind. ``image_attentive`` adds the attentive probe beside the
    images' linear / k-NN (a diagnostic: issue 11's I-JEPA goal is the linear probe)."""
    if kind == "image" and image_attentive:
        return [(name, label, [*protocols, "attentive"]) for name, label, protocols in TASKS[kind]]
    return TASKS[kind]


def card() -> dict[str, Any]:
    return {"machine": platform.machine(), "processor": _cpu_name(),
            "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "python": platform.python_version(),
            "device": "cpu (no GPU lent)" if not torch.cuda.is_available()
            else torch.cuda.get_device_name()}


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def random_init_encoder(cfg: Any) -> torch.nn.Module:
    """The run's step-0 encoder: the same seed and builder as vjepa.train.main."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(cfg.seed, INIT))
        return build_encoder(cfg.model)


def target_encoder(cfg: Any, run_dir: Path) -> torch.nn.Module:
    encoder = build_encoder(cfg.model)
    state = load_checkpoint(run_dir / "checkpoints" / "latest.pt")
    encoder.load_state_dict(state["target_encoder"])
    return encoder


def pixel_tokens(x: torch.Tensor, tubelet: int, patch: int) -> torch.Tensor:
    """Raw pixels as tokens on the encoder's grid: [N, C, T, H, W] -> [N, L, C*t*p*p]."""
    n, c, frames, h, w = x.shape
    t = tubelet if frames > 1 else 1
    x = x.reshape(n, c, frames // t, t, h // patch, patch, w // patch, patch)
    return x.permute(0, 2, 4, 6, 1, 3, 5, 7).reshape(n, -1, c * t * patch * patch)


def pixel_scores(cfg: Any, data: LabelledSet, p: Any) -> dict[str, float]:
    """The probes of ``p`` on raw pixel tokens (heads: the encoder's if they divide the width)."""
    m = cfg.model
    tokens = LabelledSet(pixel_tokens(data.train_x, m.tubelet_size, m.patch_size), data.train_y,
                         pixel_tokens(data.test_x, m.tubelet_size, m.patch_size), data.test_y,
                         data.num_classes)
    tokens = tokens.to(DEVICE)
    width = tokens.train_x.shape[-1]
    return token_scores(tokens, p, m.num_heads if width % m.num_heads == 0 else 1)


def evaluate(cfg: Any, encoders: dict[str, torch.nn.Module], budget: dict[str, Any],
             image_attentive: bool = False) -> dict[str, dict[str, float]]:
    """{"<task>/<protocol>": {encoder name or "pixels": top-1}} with the probe budget."""
    out: dict[str, dict[str, float]] = {}
    for task, label, protocols in tasks(cfg.data.kind, image_attentive):
        pcfg = OmegaConf.merge(cfg, {"probe": {**budget, "label": label,
                                               "protocols": protocols}})
        data = labelled_set(pcfg)
        scores = {name: probe_scores(encoder.to(DEVICE), data, pcfg.probe)
                  for name, encoder in encoders.items()}
        scores["pixels"] = pixel_scores(pcfg, data, pcfg.probe)
        for name, by_protocol in scores.items():
            for protocol, top1 in by_protocol.items():
                out.setdefault(f"{task}/{protocol}", {})[name] = top1
    return out


def one_seed(recipe: str, seed: int, overrides: list[str], out: Path,
             budget: dict[str, Any], train: bool = True, image_attentive: bool = False
             ) -> dict[str, Any]:
    run_dir = out / recipe / f"seed{seed}"
    if run_dir.exists():
        shutil.rmtree(run_dir)  # a fresh run, never a resumed one
    args = [f"experiment={recipe}", f"seed={seed}", f"run_dir={run_dir}",
            "logging.progress=false", *overrides]
    cfg = finalize(compose(args))
    t0 = time.perf_counter()
    summary = run(cfg) if train else {"step": 0, "loss": float("nan")}
    train_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    encoders = {"random_init": random_init_encoder(cfg)}
    if train:
        encoders = {"target": target_encoder(cfg, run_dir), **encoders}
    scores = evaluate(cfg, encoders, budget, image_attentive)
    curves = run_dir / "plots" / "curves.png"
    if curves.is_file():
        shutil.copy(curves, out / recipe / f"curves_seed{seed}.png")
    return {"seed": seed, "command": "vjepa train " + " ".join(args), "train_s": train_s,
            "probe_s": time.perf_counter() - t0, "steps": summary["step"],
            "final_loss": summary["loss"], "in_training_probe": summary.get("probe"),
            "scores": scores}


def table(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for key in results[0]["scores"]:
        row: dict[str, Any] = {"probe": key}
        names = [n for n in ("target", "random_init", "pixels") if n in results[0]["scores"][key]]
        for name in names:
            values = [r["scores"][key][name] for r in results]
            row[name] = values
            row[f"{name}_mean"] = statistics.fmean(values)
            row[f"{name}_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
        if "target" in names:
            gaps = [t - r for t, r in zip(row["target"], row["random_init"], strict=True)]
            row["gap_mean"], row["gap_min"] = statistics.fmean(gaps), min(gaps)
        rows.append(row)
    return rows


def print_table(recipe: str, rows: list[dict[str, Any]], seeds: list[int]) -> None:
    print(f"\n{recipe}: top-1 on held-out synthetic data, mean ± std over seeds {seeds}")
    print("| probe | pretrained target encoder | random-init encoder | raw pixels | gap (min) |")
    print("|---|---|---|---|---|")
    for r in rows:
        cells = [f"{r[f'{n}_mean']:.3f} ± {r[f'{n}_std']:.3f}" if f"{n}_mean" in r else "-"
                 for n in ("target", "random_init", "pixels")]
        gap = f"{r['gap_mean']:+.3f} ({r['gap_min']:+.3f})" if "gap_mean" in r else "-"
        print(f"| {r['probe']} | {' | '.join(cells)} | {gap} |")


def collected(paths: list[Path]) -> dict[str, Any]:
    """One document from several runs' learning.json: same recipe and budget, distinct seeds."""
    docs = [json.loads(p.read_text()) for p in paths]
    for key in ("recipe", "budget"):
        values = {json.dumps(d[key], sort_keys=True) for d in docs}
        if len(values) > 1:
            raise ValueError(f"--collect: the files differ in {key!r}: {sorted(values)}")
    runs = [r for d in docs for r in d["runs"]]
    seeds = [r["seed"] for r in runs]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"--collect: a seed appears twice among {seeds}")
    probes = {r["seed"]: sorted(r["scores"]) for r in runs}
    if len({tuple(v) for v in probes.values()}) > 1:  # e.g. runs with and without --image-attentive
        raise ValueError(f"--collect: the runs differ in their probes (seed: probes): {probes}")
    return {"recipe": docs[0]["recipe"], "card": docs[0]["card"], "budget": docs[0]["budget"],
            "image_attentive": docs[0].get("image_attentive"),  # None: a file from before the flag
            "wall_s": max(d["wall_s"] for d in docs), "collected_from": [str(p) for p in paths],
            "runs": sorted(runs, key=lambda r: r["seed"])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", default="vjepa_tiny")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    parser.add_argument("--out", type=Path, default=Path("runs/learning"))
    parser.add_argument("--no-train", action="store_true",
                        help="no pretraining: probe the random-init encoder and raw pixels only")
    parser.add_argument("--collect", nargs="+", type=Path, default=None, metavar="JSON",
                        help="pool the runs of several learning.json files into one table")
    parser.add_argument("--budget", nargs="*", default=[], metavar="KEY=VALUE",
                        help="change the probe budget (a quick check only: the published "
                             f"figures use the default {BUDGET})")
    parser.add_argument("--image-attentive", action="store_true",
                        help="images: an attentive probe beside linear / k-NN (diagnostic)")
    args = parser.parse_args(argv)
    budget = {**BUDGET, **{k: type(BUDGET[k])(v) for k, v in
                           (item.split("=", 1) for item in args.budget)}}
    t0 = time.perf_counter()
    if args.collect:
        doc = collected(args.collect)
    else:
        results = [one_seed(args.recipe, s, args.set, args.out, budget, not args.no_train,
                            args.image_attentive) for s in args.seeds]
        doc = {"recipe": args.recipe, "card": card(), "budget": budget,
               "image_attentive": args.image_attentive,
               "wall_s": time.perf_counter() - t0, "runs": results}
    doc["command"] = " ".join([Path(sys.executable).name, *sys.argv])
    doc["table"] = rows = table(doc["runs"])
    results = doc["runs"]
    args.recipe = doc["recipe"]
    path = args.out / args.recipe / "learning.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1))
    print(json.dumps({k: doc[k] for k in ("recipe", "card", "command", "wall_s")}, indent=1))
    for r in results:
        print(f"seed {r['seed']}: {r['command']}  (train {r['train_s']:.0f}s, "
              f"probes {r['probe_s']:.0f}s, final loss {r['final_loss']:.4f})")
    print_table(args.recipe, rows, [r["seed"] for r in results])
    print(f"\nwritten: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
