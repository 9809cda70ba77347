"""vjepa.models."""
