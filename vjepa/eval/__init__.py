"""vjepa.eval."""
