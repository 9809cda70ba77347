#!/usr/bin/env bash
# A sweep as ONE Slurm job array (Hydra multirun + hydra-submitit-launcher): every combination
# of learning rate and seed is an array task with its own run folder SWEEP_DIR/<job number>.
#
#   PARTITION=learn bash slurm/sweep_lr_seed.sh                    # tiny V-JEPA, 3 lr x 2 seeds
#   EXPERIMENT=vjepa_vitl16 LRS=3e-4,6.25e-4 SEEDS=0 GPUS=8 DATA=/data/k710.csv \
#       PARTITION=learn bash slurm/sweep_lr_seed.sh
#
# Optional: ACCOUNT, QOS, CONSTRAINT, TIME (minutes, default 240), GPUS (per job, one rank per
# GPU, default 1), PARALLEL (array tasks running at once, default 16), SWEEP_DIR (default
# runs/sweeps/<experiment>-<UTC>), DATA (index files for the recipes that need them), VJEPA (the
# command). Extra arguments: Hydra overrides. The launcher is configs/hydra/launcher/
# vjepa_slurm.yaml (hydra-submitit-launcher, with the ranks of a job wired together).
set -euo pipefail
source "$(dirname "$0")/cluster_args.sh"
cluster_args hydra.launcher
EXPERIMENT=${EXPERIMENT:-vjepa_tiny}
SWEEP_DIR=${SWEEP_DIR:-runs/sweeps/$EXPERIMENT-$(date -u +%Y%m%d-%H%M%S)}
args=(experiment="$EXPERIMENT" "optim.lr=${LRS:-1e-4,2e-4,4e-4}" "seed=${SEEDS:-0,1}"
      "hydra.sweep.dir=$SWEEP_DIR"
      # one fixed folder per array task: a requeued task resumes there
      'run_dir=${hydra:sweep.dir}/${hydra:job.num}'
      hydra/launcher=vjepa_slurm "${CLUSTER[@]}"
      "hydra.launcher.timeout_min=${TIME:-240}" "hydra.launcher.gpus_per_node=${GPUS:-1}"
      "hydra.launcher.tasks_per_node=${GPUS:-1}" "hydra.launcher.cpus_per_task=10"
      "hydra.launcher.array_parallelism=${PARALLEL:-16}")
if [ -n "${DATA:-}" ]; then args+=("data.sources=[$DATA]"); fi
exec ${VJEPA:-vjepa} train -m "${args[@]}" "$@"
