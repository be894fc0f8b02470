"""fastrnn: fast recurrent networks (SimpleRNN, LSTM, GRU, Bidirectional) with a Keras-style API."""
from ._version import __version__
from . import _core
from . import ops
from . import layers
from .threads import set_num_threads, get_num_threads

from . import activations, losses, metrics, optimizers, callbacks, utils, models
from . import datasets, preprocessing
from .models import Model, Sequential, load_model
from . import export

Model._exporter = export.export_model
from .layers.core import Input
from .training import train
from .plotting import plot_history
