"""Launch path without a cluster: settings -> sbatch flags, checks, records, and a real 2-rank
job through submitit's local executor (gloo DDP across two processes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import submitit
from launch_support import ENTRY, let_jobs_import_tests, tiny_cfg, wait_done
from omegaconf import OmegaConf
from submitit.slurm.slurm import _make_sbatch_string

from vjepa.launch import (
    EntryJob,
    as_slurm_config,
    launch,
    main,
    resolve_entry,
    submit,
    submit_array,
)
from vjepa.launch.executors import for_launcher, local_parameters, slurm_parameters
from vjepa.launch.records import JobRecord, append_record, read_records
from vjepa.launch.status import read_progress
from vjepa.slurm_config import SlurmConfig


def sbatch_lines(slurm: SlurmConfig, tmp_path: Path) -> set[str]:
    text = _make_sbatch_string(command="python -m x", folder=tmp_path, **slurm_parameters(slurm))
    return {line for line in text.splitlines() if line.startswith("#SBATCH")}


def test_published_gpu_settings_become_sbatch_flags(tmp_path: Path) -> None:
    slurm = SlurmConfig(nodes=16, gpus_per_node=8, cpus_per_task=12, mem_per_gpu="55G",
                        partition="learn", account="jepa", qos="high", constraint="volta32gb",
                        time=4320, signal_delay_s=120, additional_parameters={"mail-type": "END"})
    lines = sbatch_lines(slurm, tmp_path)
    expected = {"--nodes=16", "--ntasks-per-node=8", "--gpus-per-node=8", "--cpus-per-task=12",
                "--mem-per-gpu=55G", "--partition=learn", "--account=jepa", "--qos=high",
                "--constraint=volta32gb", "--time=4320", "--signal=USR2@120", "--mail-type=END"}
    assert {f"#SBATCH {flag}" for flag in expected} <= lines


def test_cpu_only_job_asks_for_no_gpus(tmp_path: Path) -> None:
    lines = sbatch_lines(SlurmConfig(gpus_per_node=0, cpus_per_task=2, mem="8G"), tmp_path)
    assert "#SBATCH --ntasks-per-node=1" in lines and "#SBATCH --mem=8G" in lines
    assert not any("gpu" in line for line in lines)
    assert not any(f"--{k}" in "".join(lines) for k in ("partition", "account", "qos"))


@pytest.mark.parametrize("changes, message", [
    ({"nodes": 0}, "slurm.nodes must be >= 1, got 0"),
    ({"gpus_per_node": -1}, "slurm.gpus_per_node must be >= 0, got -1"),
    ({"tasks_per_node": 0}, "slurm.tasks_per_node must be >= 1 or null, got 0"),
    ({"time": 2, "signal_delay_s": 120}, "signal_delay_s=120 must be shorter than slurm.time=2"),
    ({"gpus_per_node": 0, "mem_per_gpu": "10G"}, "mem_per_gpu='10G' needs gpus_per_node > 0"),
    ({"mem": "100G", "mem_per_gpu": "10G"}, "slurm.mem='100G' and slurm.mem_per_gpu='10G'"),
])
def test_impossible_slurm_settings_raise(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("[", r"\[")):
        as_slurm_config(OmegaConf.merge(OmegaConf.structured(SlurmConfig), changes))


def test_local_launcher_checks_nodes_and_gpus_of_this_machine() -> None:
    with pytest.raises(ValueError, match="runs on one node, got slurm.nodes=2"):
        local_parameters(SlurmConfig(nodes=2, gpus_per_node=0), gpus_here=0)
    with pytest.raises(ValueError, match="gpus_per_node=8 but this machine has 2 GPU"):
        local_parameters(SlurmConfig(gpus_per_node=8), gpus_here=2)
    params = local_parameters(SlurmConfig(gpus_per_node=2, time=30), gpus_here=2)
    assert (params["tasks_per_node"], params["gpus_per_node"], params["timeout_min"]) == (2, 2, 30)


def test_unknown_slurm_setting_raises() -> None:
    with pytest.raises(ValueError, match=r"unknown slurm setting\(s\) \['gpu_per_node'\]"):
        as_slurm_config({"gpu_per_node": 8})


@pytest.mark.parametrize("entry, message", [
    ("launch_entry.counting_run", "must look like 'package.module:function'"),
    ("launch_entry:", "must look like"),
    ("launch_entry:no_such_function", "has no callable 'no_such_function'"),
])
def test_bad_entry_points_raise(entry: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        resolve_entry(entry)


def test_missing_entry_module_raises_before_submitting(tmp_path: Path) -> None:
    with pytest.raises(ModuleNotFoundError, match="no_such_module"):
        submit(tiny_cfg(tmp_path / "run", "local"), "no_such_module:run")
    assert not (tmp_path / "run").exists()


def test_checkpoint_requeues_a_copy_with_the_same_entry_and_config(tmp_path: Path) -> None:
    cfg = tiny_cfg(tmp_path, "slurm")
    job = EntryJob(ENTRY, cfg)
    delayed = job.checkpoint()
    assert isinstance(delayed, submitit.helpers.DelayedSubmission)
    assert delayed.function is not job and isinstance(delayed.function, EntryJob)
    assert (delayed.function.entry, delayed.function.cfg) == (ENTRY, cfg)
    assert (delayed.args, delayed.kwargs) == ((), {})


@pytest.mark.parametrize("launcher", ["none", "kubernetes"])
def test_launcher_must_be_local_or_slurm(tmp_path: Path, launcher: str) -> None:
    with pytest.raises(ValueError, match=f"launcher must be one of .*, got '{launcher}'"):
        submit(tiny_cfg(tmp_path, launcher), ENTRY)


def test_sweep_configs_must_share_cluster_settings_and_not_run_folders(tmp_path: Path) -> None:
    a, b = tiny_cfg(tmp_path / "a", "local"), tiny_cfg(tmp_path / "b", "local", tasks=1)
    with pytest.raises(ValueError, match="sweep config 1 has launcher/slurm settings different"):
        submit_array([a, b], ENTRY)
    with pytest.raises(ValueError, match="configs share run folders"):
        submit_array([a, tiny_cfg(tmp_path / "a", "local")], ENTRY)
    with pytest.raises(ValueError, match="need one run folder per config, got 2 configs and 1"):
        launch(ENTRY, [a, b], "local", SlurmConfig(), [tmp_path / "a"])
    no_run_dir = tiny_cfg(tmp_path, "local")
    no_run_dir.run_dir = None
    with pytest.raises(ValueError, match="the config has no run_dir"):
        submit(no_run_dir, ENTRY)


def test_records_round_trip_and_malformed_lines_name_the_line(tmp_path: Path) -> None:
    rec = JobRecord(job_id="12_3", launcher="slurm", entry=ENTRY, submitted_at="t", folder="f",
                    stdout="o", stderr="e", num_tasks=16)
    append_record(tmp_path, rec)
    append_record(tmp_path, rec)
    assert read_records(tmp_path) == [rec, rec]
    with (tmp_path / "jobs.jsonl").open("a") as f:
        f.write(json.dumps({"job_id": "1"}) + "\n")
    with pytest.raises(ValueError, match=r"jobs.jsonl:3: not a job record"):
        read_records(tmp_path)


def test_jobs_command_names_a_folder_without_records(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "run").mkdir()
    assert main([str(tmp_path / "run")]) == 2
    assert f"vjepa jobs: {tmp_path / 'run'}: no jobs.jsonl" in capsys.readouterr().err
    assert main([str(tmp_path / "typo")]) == 2
    assert f"{tmp_path / 'typo'}: the run folder does not exist" in capsys.readouterr().err
    (tmp_path / "file").write_text("")
    assert main([str(tmp_path / "file")]) == 2
    assert f"{tmp_path / 'file'}: the run folder is not a folder" in capsys.readouterr().err


def test_progress_needs_step_and_loss_columns(tmp_path: Path) -> None:
    assert read_progress(tmp_path) is None
    (tmp_path / "metrics.csv").write_text("step,loss,lr\n10.0,0.5,1e-4\n20.0,0.25,2e-4\n")
    progress = read_progress(tmp_path)
    assert (progress.step, progress.loss) == (20, 0.25)
    with (tmp_path / "metrics.csv").open("a") as f:
        f.write("30.0,0.1")  # the training is writing this row
    assert read_progress(tmp_path) == progress
    (tmp_path / "metrics.csv").write_text("iteration,value\n1,2\n")
    with pytest.raises(ValueError, match=r"needs 'step' and 'loss' columns, has \['iteration'"):
        read_progress(tmp_path)


def test_local_launcher_runs_two_ranks_and_jobs_lists_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    let_jobs_import_tests(monkeypatch)
    run_dir = tmp_path / "run"
    job = submit(tiny_cfg(run_dir, "local"), ENTRY)
    printed = capsys.readouterr().out
    assert f"submitted local job {job.job_id} (2 tasks)" in printed
    assert str(job.paths.stdout) in printed
    results = wait_done(job).results()
    assert [r["rank"] for r in results] == [0, 1]
    assert [r["local_rank"] for r in results] == [0, 1]
    assert {r["world_size"] for r in results} == {2}
    # last step's all-reduce: sum over ranks of (rank + 1) * steps * seed
    assert {r["checksum"] for r in results} == {(1 + 2) * 3 * 3}
    assert {r["final_step"] for r in results} == {3}
    assert main([str(run_dir)]) == 0
    row = capsys.readouterr().out.splitlines()[1].split()
    assert row == [str(run_dir), job.job_id, "local", "COMPLETED", "3", f"{9 * 3 / 1000:.4f}",
                   str(job.paths.stdout)]


def test_unset_gpus_follow_the_launcher(monkeypatch: pytest.MonkeyPatch) -> None:
    unset = as_slurm_config(OmegaConf.structured(SlurmConfig))  # what `vjepa train` composes
    assert unset.gpus_per_node is None
    assert slurm_parameters(unset)["gpus_per_node"] == 8  # a Slurm job asks for a full node
    params = local_parameters(unset, gpus_here=0)  # a CPU-only machine
    assert (params["gpus_per_node"], params["tasks_per_node"]) == (0, 1)
    assert local_parameters(unset, gpus_here=2)["tasks_per_node"] == 2
    monkeypatch.setattr("torch.cuda.device_count", lambda: 0)
    assert for_launcher("local", unset).gpus_per_node == 0
    assert for_launcher("slurm", unset).ntasks_per_node == 8
    assert for_launcher("local", SlurmConfig(gpus_per_node=1)).gpus_per_node == 1
