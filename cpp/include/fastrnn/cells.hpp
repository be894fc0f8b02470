// One forward/backward pair per cell (shapes and buffer rules in common.hpp). Each pair is
// templated on float/double and explicitly instantiated in its own .cpp; forward()/backward()
// in common.hpp dispatch on RnnSpec::cell.
//
// Cache layout per cell (each block [B,T,width], indexed by input time):
//   SimpleRNN: h_new [H], h_prev [H]
//   LSTM:      gates i,f,c,o after activation [4H], c_prev [H], h_prev [H]
//   GRU (reset_after):  z, r, hh after activation [3H], recurrent_h = h_prev U_h + b_rh [H], h_prev [H]
//   GRU (reset_before): z, r, hh after activation [3H], h_prev [H]
// h_prev is the state before recurrent dropout.
#pragma once

#include "fastrnn/common.hpp"

namespace fastrnn {

template <typename T> void simple_rnn_forward(const RnnSpec& spec, const ForwardArgs<T>& args);
template <typename T> void simple_rnn_backward(const RnnSpec& spec, const BackwardArgs<T>& args);

template <typename T> void lstm_forward(const RnnSpec& spec, const ForwardArgs<T>& args);
template <typename T> void lstm_backward(const RnnSpec& spec, const BackwardArgs<T>& args);

template <typename T> void gru_forward(const RnnSpec& spec, const ForwardArgs<T>& args);
template <typename T> void gru_backward(const RnnSpec& spec, const BackwardArgs<T>& args);

}  // namespace fastrnn
