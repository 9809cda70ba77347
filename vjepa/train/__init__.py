"""vjepa.train."""
