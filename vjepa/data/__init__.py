"""vjepa.data."""
