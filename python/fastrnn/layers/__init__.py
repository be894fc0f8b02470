"""Keras-style layers. Recurrent layers run on the C++ kernels."""
from .base import Layer, IndexedSlices
from .recurrent import SimpleRNN, LSTM, GRU
from .bidirectional import Bidirectional
from .core import Dense, Dropout, Activation, InputLayer, Input
from .embedding import Embedding
