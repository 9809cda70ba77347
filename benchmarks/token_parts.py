"""What a target encoder's tokens vary with: position or clip (issue 11 diagnostics).

The layer-normed tokens z[n, l, :] of the probe's held-out clips (the training targets' form)
are split into parts of their variance, summed over channels and given as fractions of the
total:

- position: the variance of the per-position mean over clips (what the predictor gets for free
  from the position table);
- content: the rest, the variance of a token around its position's mean (what only the clip
  can tell).

Usage (a run folder's target encoder beside the random-init encoder of its seed):
    python benchmarks/token_parts.py --runs RUN [RUN ...] [--num 512]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from omegaconf import OmegaConf

sys.path.insert(0, str(Path(__file__).resolve().parent))
from learning import random_init_encoder, target_encoder  # noqa: E402

from vjepa.train.hydra_config import finalize  # noqa: E402
from vjepa.train.probe_eval import encode_all, labelled_set  # noqa: E402


def token_parts(tokens: torch.Tensor) -> dict[str, float]:
    """Fractions of the variance of layer-normed tokens [N, L, D]: position and content."""
    z = F.layer_norm(tokens.float(), tokens.shape[-1:])
    z = z - z.mean((0, 1), keepdim=True)
    total = float((z ** 2).sum(-1).mean())
    position = float((z.mean(0) ** 2).sum(-1).mean())
    return {"position": position / total, "content": 1 - position / total}


def parts_of_run(run: Path, num: int) -> dict[str, dict[str, float]]:
    cfg: Any = finalize(OmegaConf.load(run / "config.yaml"))  # schema defaults for old runs
    data = labelled_set(cfg)
    x = data.test_x[:num]
    out = {}
    for name, encoder in (("random_init", random_init_encoder(cfg)),
                          ("target", target_encoder(cfg, run))):
        out[name] = token_parts(encode_all(encoder.eval(), x, cfg.probe.batch_size))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=Path, nargs="+", required=True, help="run folders")
    ap.add_argument("--num", type=int, default=512, help="held-out test clips used")
    args = ap.parse_args(argv)
    results = {str(run): parts_of_run(run, args.num) for run in args.runs}
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
