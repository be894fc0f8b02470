// The activations of FASTRNN_ACTIVATIONS (common.hpp), evaluated on Eigen array expressions
// (recurrent kernels: vectorised) and on scalars (Dense: one fixed formula per element, so no
// result depends on where a buffer lies). Derivatives are expressed through the activation's
// OUTPUT y (what the caches store), so backward needs no pre-activations.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <type_traits>

#include "fastrnn/common.hpp"

namespace fastrnn {
namespace act {

template <typename S>
using IfScalar = std::enable_if_t<std::is_floating_point<S>::value, S>;

// The formulas' vocabulary on Eigen arrays (tanh: Eigen's own, found by argument-dependent
// lookup) ...
template <typename D> auto sigmoid(const Eigen::ArrayBase<D>& x) { return x.logistic(); }
template <typename D> auto relu(const Eigen::ArrayBase<D>& x) {
  return x.cwiseMax(typename D::Scalar(0));
}
template <typename D> auto clip01(const Eigen::ArrayBase<D>& x) {
  using S = typename D::Scalar;
  return x.cwiseMax(S(0)).cwiseMin(S(1));
}
template <typename D> auto inside01(const Eigen::ArrayBase<D>& y) {
  using S = typename D::Scalar;
  return (y > S(0)) && (y < S(1));
}
template <typename C, typename A, typename B>
auto where(const Eigen::ArrayBase<C>& c, const A& a, const B& b) { return c.select(a, b); }

// ... and on scalars. sigmoid takes the exponential of a non-positive number only.
template <typename S> IfScalar<S> tanh(S x) { return std::tanh(x); }
template <typename S> IfScalar<S> sigmoid(S x) {
  const S e = std::exp(-std::abs(x));
  return x >= S(0) ? S(1) / (S(1) + e) : e / (S(1) + e);
}
template <typename S> IfScalar<S> relu(S x) { return std::max(x, S(0)); }
template <typename S> IfScalar<S> clip01(S x) { return std::min(std::max(x, S(0)), S(1)); }
template <typename S>
std::enable_if_t<std::is_floating_point<S>::value, bool> inside01(S y) {
  return y > S(0) && y < S(1);
}
template <typename S> IfScalar<S> where(bool c, S a, S b) { return c ? a : b; }

// y = f(x) on arrays; `y` may alias `x` (element-wise).
template <typename S, typename X, typename Y>
void forward(Activation a, const X& x, Y&& y) {
  switch (a) {
#define FASTRNN_ACT_FORWARD(E, name, f, df) \
  case Activation::E: y = (f); break;
    FASTRNN_ACTIVATIONS(FASTRNN_ACT_FORWARD)
#undef FASTRNN_ACT_FORWARD
  }
}

// out = dy * f'(x) on arrays, from y = f(x).
template <typename S, typename G, typename Yv, typename Out>
void backward(Activation a, const G& dy, const Yv& y, Out&& out) {
  switch (a) {
#define FASTRNN_ACT_BACKWARD(E, name, f, df) \
  case Activation::E: out = (df); break;
    FASTRNN_ACTIVATIONS(FASTRNN_ACT_BACKWARD)
#undef FASTRNN_ACT_BACKWARD
  }
}

// ys[i] = f(xs[i]) for i in [0, n) on scalars (ys may equal xs).
template <typename S>
void forward_scalars(Activation a, const S* xs, S* ys, index_t n) {
  switch (a) {
#define FASTRNN_ACT_FORWARD_SCALARS(E, name, f, df) \
  case Activation::E:                               \
    for (index_t i = 0; i < n; ++i) {               \
      const S x = xs[i];                            \
      ys[i] = (f);                                  \
    }                                               \
    break;
    FASTRNN_ACTIVATIONS(FASTRNN_ACT_FORWARD_SCALARS)
#undef FASTRNN_ACT_FORWARD_SCALARS
  }
}

// out[i] = dys[i] * f'(x) from ys[i] = f(x), for i in [0, n), on scalars.
template <typename S>
void backward_scalars(Activation a, const S* dys, const S* ys, S* out, index_t n) {
  switch (a) {
#define FASTRNN_ACT_BACKWARD_SCALARS(E, name, f, df) \
  case Activation::E:                                \
    for (index_t i = 0; i < n; ++i) {                \
      const S dy = dys[i], y = ys[i];                \
      out[i] = (df);                                 \
    }                                                \
    break;
    FASTRNN_ACTIVATIONS(FASTRNN_ACT_BACKWARD_SCALARS)
#undef FASTRNN_ACT_BACKWARD_SCALARS
  }
}

}  // namespace act

template <typename Out>
using ScalarOf = typename Eigen::internal::traits<std::decay_t<Out>>::Scalar;

// out = act(in) on Eigen arrays. `out` may alias `in`.
template <typename In, typename Out>
inline void activate(Activation a, const In& in, Out&& out) {
  act::forward<ScalarOf<Out>>(a, in, std::forward<Out>(out));
}

// out = g * act'(x) where y = act(x), on Eigen arrays.
template <typename G, typename Y, typename Out>
inline void activate_grad(Activation a, const G& g, const Y& y, Out&& out) {
  act::backward<ScalarOf<Out>>(a, g, y, std::forward<Out>(out));
}

}  // namespace fastrnn
