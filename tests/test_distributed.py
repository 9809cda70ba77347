"""Environment parsing (single / torchrun / Slurm) and a 2-process gloo DDP training run."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest
from train_helpers import load_latest, subprocess_env, tiny_overrides

from vjepa.distributed import DistEnv, read_env


def test_single_process_needs_no_variables():
    assert read_env({}) == DistEnv(0, 1, 0, "single")


def test_torchrun_variables():
    env = {"RANK": "3", "WORLD_SIZE": "8", "LOCAL_RANK": "1", "MASTER_ADDR": "h",
           "MASTER_PORT": "1"}
    assert read_env(env) == DistEnv(3, 8, 1, "torchrun")


def test_raw_slurm_variables_are_a_fallback():
    env = {"SLURM_PROCID": "5", "SLURM_NTASKS": "16", "SLURM_LOCALID": "5",
           "MASTER_ADDR": "h", "MASTER_PORT": "1"}
    assert read_env(env) == DistEnv(5, 16, 5, "slurm")
    assert read_env({"SLURM_PROCID": "0", "SLURM_NTASKS": "1"}).world_size == 1


@pytest.mark.parametrize("env, match", [
    ({"RANK": "0"}, "WORLD_SIZE"),
    ({"RANK": "x", "WORLD_SIZE": "2"}, "RANK='x'"),
    ({"RANK": "2", "WORLD_SIZE": "2", "MASTER_ADDR": "h", "MASTER_PORT": "1"}, "rank 2"),
    ({"RANK": "0", "WORLD_SIZE": "2"}, "MASTER_ADDR"),
])
def test_bad_environments_raise(env, match):
    with pytest.raises(ValueError, match=match):
        read_env(env)


RANK_MAIN = """
import json, sys
import torch
from vjepa.train.hydra_config import compose
from vjepa.train.main import run
torch.set_num_threads(1)
print("SUMMARY " + json.dumps(run(compose(sys.argv[1:]))), flush=True)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_gloo_processes_train_identical_replicas(tmp_path):
    from vjepa.train.data import data_sources
    from vjepa.train.hydra_config import compose, finalize

    run_dir, cache = tmp_path / "run", tmp_path / "cache"
    overrides = tiny_overrides(run_dir, cache, steps=4, ipe=2) + ["optim.accum_steps=2"]
    data_sources(finalize(compose(overrides)).data)  # build the synthetic set once, here
    port = str(free_port())
    procs = [
        subprocess.Popen([sys.executable, "-c", RANK_MAIN, *overrides],
                         env=subprocess_env(RANK=str(r), WORLD_SIZE="2", LOCAL_RANK=str(r),
                                            MASTER_ADDR="127.0.0.1", MASTER_PORT=port),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for r in range(2)
    ]
    outs = [p.communicate(timeout=240) for p in procs]
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err[-3000:]
    summaries = [json.loads(next(line for line in out.splitlines()
                                 if line.startswith("SUMMARY "))[8:]) for out, _ in outs]
    assert [s["rank"] for s in summaries] == [0, 1]
    assert summaries[0]["step"] == summaries[1]["step"] == 4
    assert summaries[0]["param_digest"] == summaries[1]["param_digest"]
    state = load_latest(run_dir)  # written by rank 0 only, with both ranks' RNG states
    assert state["step"] == 4 and len(state["rng"]) == 2
    assert not any(run_dir.glob("**/*rank1*"))
