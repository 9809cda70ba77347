"""vjepa.masks."""
