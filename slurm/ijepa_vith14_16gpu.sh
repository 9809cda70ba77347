#!/usr/bin/env bash
# I-JEPA ViT-H/14 pretraining on ImageNet-1k as published: 16 GPUs (2 nodes x 8), 128 images per
# GPU (2048 per step), 300 epochs.
#
#   DATA=/data/imagenet/train.csv PARTITION=learn ACCOUNT=jepa bash slurm/ijepa_vith14_16gpu.sh
#
# DATA: image index file(s) (`path label` lines) or folders, comma-separated. Optional: QOS,
# CONSTRAINT, RUN_DIR (default runs/ijepa_vith14/<UTC>), VJEPA (the command, default `vjepa`).
# Extra arguments are Hydra overrides. The job requeues itself and resumes from RUN_DIR.
set -euo pipefail
: "${DATA:?set DATA to your image index file(s), e.g. DATA=/data/imagenet/train.csv}"
RUN_DIR=${RUN_DIR:-runs/ijepa_vith14/$(date -u +%Y%m%d-%H%M%S)}
source "$(dirname "$0")/cluster_args.sh"
cluster_args slurm
exec ${VJEPA:-vjepa} train experiment=ijepa_vith14_in1k "data.sources=[$DATA]" "run_dir=$RUN_DIR" \
    launcher=slurm +slurm=gpu_2x8 "${CLUSTER[@]}" "$@"
