#!/usr/bin/env bash
# V-JEPA ViT-L/16 pretraining as published: 16 nodes x 8 GPUs, 24 clips per GPU (3072 per step).
#
#   DATA=/data/k710/train.csv PARTITION=learn ACCOUNT=jepa bash slurm/vjepa_vitl16_16x8.sh
#
# DATA: index file(s) of `path label` lines, comma-separated for a mix (Kinetics-710, SSv2,
# HowTo100M in the paper). Optional: QOS, CONSTRAINT, RUN_DIR (default runs/vjepa_vitl16/<UTC>),
# VJEPA (the command, default `vjepa`). Extra arguments are Hydra overrides, e.g. optim.epochs=10.
# Submits one job that requeues itself on preemption or time limit and resumes from RUN_DIR.
set -euo pipefail
: "${DATA:?set DATA to your video index file(s), e.g. DATA=/data/k710/train.csv}"
RUN_DIR=${RUN_DIR:-runs/vjepa_vitl16/$(date -u +%Y%m%d-%H%M%S)}
source "$(dirname "$0")/cluster_args.sh"
cluster_args slurm
exec ${VJEPA:-vjepa} train experiment=vjepa_vitl16 "data.sources=[$DATA]" "run_dir=$RUN_DIR" \
    launcher=slurm +slurm=gpu_16x8 "${CLUSTER[@]}" "$@"
