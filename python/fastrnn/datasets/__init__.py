"""Datasets for fastrnn."""

from . import imdb

__all__ = ["imdb"]
