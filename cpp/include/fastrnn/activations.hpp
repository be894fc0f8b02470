// Vectorised activations on Eigen array expressions, and their derivatives expressed through
// the activation's OUTPUT y (what the cache stores), so backward needs no pre-activations.
#pragma once

#include <Eigen/Core>

#include "fastrnn/common.hpp"

namespace fastrnn {

// out = act(in). `out` may alias `in` (pure element-wise).
template <typename In, typename Out>
inline void activate(Activation a, const In& in, Out&& out) {
  using S = typename Eigen::internal::traits<typename std::decay<Out>::type>::Scalar;
  switch (a) {
    case Activation::Tanh: out = in.tanh(); break;
    case Activation::Sigmoid: out = in.logistic(); break;
    case Activation::HardSigmoid:
      out = (in * S(1.0 / 6.0) + S(0.5)).cwiseMax(S(0)).cwiseMin(S(1));
      break;
    case Activation::Relu: out = in.cwiseMax(S(0)); break;
    case Activation::Linear: out = in; break;
  }
}

// out = g * act'(x) where y = act(x).
template <typename G, typename Y, typename Out>
inline void activate_grad(Activation a, const G& g, const Y& y, Out&& out) {
  using S = typename Eigen::internal::traits<typename std::decay<Out>::type>::Scalar;
  switch (a) {
    case Activation::Tanh: out = g * (S(1) - y.square()); break;
    case Activation::Sigmoid: out = g * y * (S(1) - y); break;
    case Activation::HardSigmoid:
      out = ((y > S(0)) && (y < S(1))).select(g * S(1.0 / 6.0), S(0));
      break;
    case Activation::Relu: out = (y > S(0)).select(g, S(0)); break;
    case Activation::Linear: out = g; break;
  }
}

}  // namespace fastrnn
