"""Keras-style layers. Recurrent layers run on the C++ kernels."""
from ..indexed_slices import IndexedSlices
from .base import Layer
from .recurrent import SimpleRNN, LSTM, GRU
from .rnn_cells import RNN, SimpleRNNCell, LSTMCell, GRUCell, StackedRNNCells
from .bidirectional import Bidirectional
from .core import Dense, Dropout, Activation, InputLayer, Input
from .embedding import Embedding
from .merging import Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate, Dot
from .reshaping import Flatten, RepeatVector, Reshape, Permute
from .convolutional import Conv1D
from .pooling import MaxPooling1D, AveragePooling1D, GlobalMaxPooling1D, GlobalAveragePooling1D
from .regularization import SpatialDropout1D
from .masking import Masking
from .normalization import BatchNormalization, LayerNormalization
from .wrappers import TimeDistributed
