"""Keras-style layers. Recurrent layers run on the C++ kernels."""
from .base import Layer, IndexedSlices
from .recurrent import SimpleRNN, LSTM, GRU
from .bidirectional import Bidirectional
from .core import Dense, Dropout, Activation, InputLayer, Input
from .embedding import Embedding
from .convolutional import Conv1D
from .pooling import MaxPooling1D, AveragePooling1D, GlobalMaxPooling1D, GlobalAveragePooling1D
from .reshaping import Flatten
from .regularization import SpatialDropout1D
from .masking import Masking
from .normalization import BatchNormalization, LayerNormalization
from .wrappers import TimeDistributed
