"""Errors of the Keras-file readers and writers, and the context that names the file in them."""
import re

from ..saving import ModelFileError


class UnsupportedKerasFeature(ModelFileError):
    """The file is intact but uses a layer, argument or setting fastrnn cannot reproduce
    exactly (a custom or code-holding layer, a regularizer, a dtype policy, ...)."""


class Source:
    """Where a config came from: the file (for messages) and the major Keras version that
    wrote it (2 or 3), which decides what some names mean (e.g. `hard_sigmoid`)."""

    def __init__(self, path, keras_version):
        self.path = repr(str(path))
        self.keras_version = str(keras_version) if keras_version is not None else ""
        match = re.match(r"\s*(\d+)", self.keras_version)
        # Files without a version (very old ones) come from Keras 1/2; fastrnn reads 2.x.
        self.major = int(match.group(1)) if match else 2

    def error(self, message, unsupported=False):
        cls = UnsupportedKerasFeature if unsupported else ModelFileError
        return cls(f"{self.path}: {message}")

    def unsupported(self, message):
        return self.error(message, unsupported=True)
