"""Datasets for fastrnn (NumPy + standard library only)."""

from . import imdb

__all__ = ["imdb"]
