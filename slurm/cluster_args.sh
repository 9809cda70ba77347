# Sourced by the recipes in this folder. `cluster_args PREFIX` fills the array CLUSTER with the
# cluster identity as Hydra overrides under PREFIX (`slurm` for `launcher=slurm` runs,
# `hydra.launcher` for sweeps): PARTITION (required), ACCOUNT, QOS, CONSTRAINT (optional).
cluster_args() {
    local p=$1
    : "${PARTITION:?set PARTITION to the Slurm partition (sinfo lists them)}"
    CLUSTER=("$p.partition=$PARTITION")
    if [ -n "${ACCOUNT:-}" ]; then CLUSTER+=("$p.account=$ACCOUNT"); fi
    if [ -n "${QOS:-}" ]; then CLUSTER+=("$p.qos=$QOS"); fi
    if [ -n "${CONSTRAINT:-}" ]; then CLUSTER+=("$p.constraint=$CONSTRAINT"); fi
}
