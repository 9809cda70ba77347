"""Launching runs as submitit jobs (Slurm or local) and listing them.

Public API::

    submit(cfg, "vjepa.train.main:run")             # one run; cfg.launcher = slurm | local
    submit_array([cfg, ...], entry)                 # a sweep as one job array
    launch(entry, cfgs, launcher, slurm, run_dirs)  # any picklable configs (extraction, eval)
    EntryJob(entry, cfg)                            # the checkpointable job object
    main(argv)                                      # `vjepa jobs RUN_DIR...`
"""

from vjepa.launch.executors import LAUNCHERS, as_slurm_config, make_executor
from vjepa.launch.job import EntryJob, export_torch_env, resolve_entry
from vjepa.launch.records import JobRecord, read_records
from vjepa.launch.status import job_table, main
from vjepa.launch.submit import launch, submit, submit_array

__all__ = [
    "LAUNCHERS", "EntryJob", "JobRecord", "as_slurm_config", "export_torch_env", "job_table",
    "launch", "main", "make_executor", "read_records", "resolve_entry", "submit", "submit_array",
]
