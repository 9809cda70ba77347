"""The pretraining engine: structured configs and recipes, schedules, optimizer groups,
checkpoints, the loop with monitoring, and the `vjepa train` entry point (`main`, `run`)."""
