"""Models: `Model(inputs, outputs)` (a Functional graph) and `Sequential`, with `load_model`."""
from ..keras_files import load_any as load_model
from .functional import Functional
from .model import Model
from .sequential import Sequential

Model._functional = Functional

__all__ = ["Functional", "Model", "Sequential", "load_model"]
