"""vjepa: Joint-Embedding Predictive Architectures (I-JEPA, V-JEPA) from one shared core."""

__version__ = "0.1.0"
