#!/usr/bin/env bash
# The learning benchmark on one GPU machine, seeds side by side (one process each) and the
# official step in the same setting beside them (official_learning.py, seed 0), then the
# train-step benchmark against the official step. Run from the repository root:
#
#   bash benchmarks/learning_gpu.sh OUT_DIR
#
# Expects the device machine's layout (benchmarks/RESULTS.md): wheels in .whl/ (PyAV) and
# pure-Python packages in .whl/site (Hydra, OmegaConf, antlr4: none installed there), the
# official facebookresearch/jepa checkout in .official/jepa. SEEDS, SET, BUDGET, LEARN_S,
# STEP_S, STEP_ARGS and OFFICIAL_DEVICE change the defaults (a quick CPU check of the script
# sets them small and OFFICIAL_DEVICE=cpu).
set -u
out=${1:?usage: learning_gpu.sh OUT_DIR}
mkdir -p "$out"
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
fi
export PYTHONPATH=/tmp/site:$PWD/.whl/site:$PWD PYTHONUNBUFFERED=1
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
export VJEPA_CACHE=${VJEPA_CACHE:-/tmp/vjepa_cache}
seeds=${SEEDS:-0 1 2}
set_args=${SET:-model.embed_dim=192 model.depth=6 model.num_heads=6 model.pred_embed_dim=96 \
model.num_frames=16 data.synthetic_num=6000 data.batch_size=64 data.num_workers=4 speed.compile=off}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$out/card.txt" 2>&1
date -u +%FT%TZ > "$out/start.txt"
pids=()
for s in $seeds; do
  # shellcheck disable=SC2086
  timeout "${LEARN_S:-390}" python3 benchmarks/learning.py --recipe vjepa_motion_tiny \
    --seeds "$s" --out "$out/learn_s$s" --set $set_args ${BUDGET:+--budget $BUDGET} \
    > "$out/learn_s$s.log" 2>&1 &
  pids+=($!)
done
# the official step in the same setting beside them (benchmarks/official_learning.py), seed 0
mkdir -p "$out/official"
# shellcheck disable=SC2086
timeout "${LEARN_S:-390}" python3 benchmarks/official_learning.py --official .official/jepa \
  --device "${OFFICIAL_DEVICE:-cuda}" --seed 0 --set $set_args --out "$out/official" \
  > "$out/official/official_s0.log" 2>&1 &
pids+=($!)
for p in "${pids[@]}"; do wait "$p"; echo "learning process $p: rc=$?" >> "$out/start.txt"; done
date -u +%FT%TZ >> "$out/start.txt"
jsons=$(ls "$out"/learn_s*/vjepa_motion_tiny/learning.json 2>/dev/null)
if [ -n "$jsons" ]; then
  # shellcheck disable=SC2086
  python3 benchmarks/learning.py --recipe vjepa_motion_tiny --collect $jsons \
    --out "$out/pooled" > "$out/pooled.log" 2>&1
fi
# shellcheck disable=SC2086
timeout "${STEP_S:-170}" env -u OUT python3 benchmarks/bench_train_step.py \
  ${STEP_ARGS:---recipe vjepa_vitl16 --variants plain fused pack fast --official .official/jepa \
  --steps 20 --warmup 10} > "$out/step.log" 2>&1
echo "step benchmark rc=$?" >> "$out/start.txt"
date -u +%FT%TZ >> "$out/start.txt"
# the run folders (metrics CSVs, curves, logs; no checkpoints) as one archive
tar -czf "$out/runs.tar.gz" --exclude='*.pt' --exclude='*.safetensors' \
  -C "$out" $(cd "$out" && ls -d learn_s* pooled official 2>/dev/null)
rm -rf "$out"/learn_s*/ "$out"/pooled/ "$out"/official/
