"""Reading, recognising and converting checkpoints (official JEPA layouts and this project's)."""
