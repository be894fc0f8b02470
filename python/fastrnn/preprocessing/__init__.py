"""Data preprocessing utilities (Keras-compatible, NumPy only)."""

from . import sequence
from .sequence import pad_sequences

__all__ = ["pad_sequences", "sequence"]
