"""The cluster profiles (configs/slurm/) and the launch recipes (slurm/*.sh) compose into valid
configs: every recipe's command line is checked by Hydra (keys, types) and by the schema."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vjepa.launch import as_slurm_config
from vjepa.train.hydra_config import compose, config_dir, finalize

REPO = Path(__file__).resolve().parents[1]
PROFILES = sorted(p.stem for p in (config_dir() / "slurm").glob("*.yaml"))
# the published geometries: (nodes, ranks in all)
PUBLISHED = {"gpu_16x8": (16, 128), "gpu_2x8": (2, 16), "gpu_30x8": (30, 240)}


@pytest.mark.parametrize("profile", PROFILES)
def test_cluster_profiles_compose_into_valid_slurm_settings(profile: str) -> None:
    cfg = compose([f"+slurm={profile}", "launcher=slurm", "slurm.partition=p"])
    slurm = as_slurm_config(cfg.slurm)
    assert slurm.partition == "p"
    if profile in PUBLISHED:
        assert (slurm.nodes, slurm.nodes * slurm.ntasks_per_node) == PUBLISHED[profile]
        assert slurm.gpus_per_node == slurm.ntasks_per_node == 8


def recipe_argv(script: str, env: dict[str, str], tmp_path: Path) -> list[str]:
    """The `vjepa ...` command line a recipe runs (VJEPA points it at a printer)."""
    printer = tmp_path / "print_args"
    printer.write_text(f"#!{sys.executable}\nimport json, sys\nprint(json.dumps(sys.argv[1:]))\n")
    printer.chmod(0o755)
    full_env = {**os.environ, **env, "VJEPA": str(printer)}
    out = subprocess.run(["bash", str(REPO / "slurm" / script), "optim.epochs=2"], env=full_env,
                         capture_output=True, text=True, check=True, timeout=60)
    return json.loads(out.stdout)


@pytest.mark.parametrize("script, experiment, profile", [
    ("vjepa_vitl16_16x8.sh", "vjepa_vitl16", "gpu_16x8"),
    ("ijepa_vith14_16gpu.sh", "ijepa_vith14_in1k", "gpu_2x8"),
])
def test_published_recipes_submit_the_published_runs(script: str, experiment: str,
                                                      profile: str, tmp_path: Path) -> None:
    argv = recipe_argv(script, {"DATA": "/data/a.csv,/data/b.csv", "PARTITION": "learn",
                                "ACCOUNT": "jepa", "RUN_DIR": str(tmp_path / "run")}, tmp_path)
    assert argv[0] == "train" and f"+slurm={profile}" in argv and argv[-1] == "optim.epochs=2"
    cfg = finalize(compose(argv[1:]))
    assert (cfg.experiment, cfg.launcher, cfg.run_dir) == (experiment, "slurm",
                                                           str(tmp_path / "run"))
    assert list(cfg.data.sources) == ["/data/a.csv", "/data/b.csv"]
    slurm = as_slurm_config(cfg.slurm)
    assert (slurm.partition, slurm.account, slurm.qos) == ("learn", "jepa", None)
    assert (slurm.nodes, slurm.nodes * slurm.ntasks_per_node) == PUBLISHED[profile]


@pytest.mark.parametrize("script", ["vjepa_vitl16_16x8.sh", "ijepa_vith14_16gpu.sh",
                                    "sweep_lr_seed.sh"])
def test_recipes_refuse_to_run_without_data_or_partition(script: str) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("DATA", "PARTITION")}
    env["VJEPA"] = "false"  # never reached
    missing = {"DATA": "set DATA", "PARTITION": "set PARTITION"}
    if script.startswith("sweep"):
        missing.pop("DATA")  # the tiny default recipe needs no data
    for var, message in missing.items():
        out = subprocess.run(["bash", str(REPO / "slurm" / script)], capture_output=True,
                             env={**env, **{v: "x" for v in missing if v != var}},
                             text=True, timeout=60)
        assert out.returncode != 0 and message in out.stderr, (var, out.stderr)


def test_sweep_recipe_is_one_multirun_with_a_fixed_run_folder_per_job(tmp_path: Path) -> None:
    argv = recipe_argv("sweep_lr_seed.sh", {"PARTITION": "learn", "LRS": "1e-4,2e-4",
                                            "SEEDS": "0,1,2", "GPUS": "8"}, tmp_path)
    assert argv[:2] == ["train", "-m"] and "hydra/launcher=vjepa_slurm" in argv
    assert {"hydra.launcher.gpus_per_node=8", "hydra.launcher.tasks_per_node=8"} <= set(argv)
    assert "run_dir=${hydra:sweep.dir}/${hydra:job.num}" in argv  # a requeued job resumes
    assert {"optim.lr=1e-4,2e-4", "seed=0,1,2", "hydra.launcher.partition=learn"} <= set(argv)
    # one job of the sweep: Hydra accepts every override (launcher keys included)
    one_job = [a.replace("=1e-4,2e-4", "=2e-4").replace("=0,1,2", "=1") for a in argv[2:]
               if not a.startswith("run_dir=")]
    cfg = finalize(compose([*one_job, f"run_dir={tmp_path}"]))
    assert (cfg.optim.lr, cfg.seed, cfg.experiment) == (2e-4, 1, "vjepa_tiny")
