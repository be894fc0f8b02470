"""fastrnn: fast recurrent networks (SimpleRNN, LSTM, GRU, Bidirectional) with a Keras-style API."""
from . import _core
from . import ops
from . import layers
from .threads import set_num_threads, get_num_threads

__version__ = "0.1.0"
