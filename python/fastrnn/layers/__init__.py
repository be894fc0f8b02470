"""Keras-style layers. Recurrent layers run on the C++ kernels."""
from ..indexed_slices import IndexedSlices
from .base import Layer
from .recurrent import SimpleRNN, LSTM, GRU
from .bidirectional import Bidirectional
from .core import Dense, Dropout, Activation, InputLayer, Input
from .embedding import Embedding
from .merging import Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, Dot
from .reshaping import RepeatVector, Reshape, Permute
