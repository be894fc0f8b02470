// Binary crossentropy value and gradient (see fastrnn/losses.hpp).
#include "fastrnn/losses.hpp"

#include <algorithm>
#include <cmath>

namespace fastrnn {

template <typename T>
double binary_crossentropy(index_t N, index_t K, const T* y, const T* p, bool from_logits,
                           T scale, T* grad) {
  const T eps = T(1e-7), one_minus_eps = T(1.0 - 1e-7), one = T(1);
  const T k_count = T(K);
  double total = 0;
  for (index_t n = 0; n < N; ++n) {
    const T* yr = y + n * K;
    const T* pr = p + n * K;
    T* gr = grad + n * K;
    T sample = 0;
    for (index_t k = 0; k < K; ++k) {
      const T yv = yr[k], v = pr[k];
      T elem, d;
      if (from_logits) {
        const bool pos = v >= T(0);
        const T e = std::exp(pos ? -v : v);          // exp(-|z|)
        elem = (pos ? v : T(0)) - v * yv + std::log1p(e);
        const T s = e / (one + e);                   // sigmoid(-|z|)
        d = pos ? (one - yv) - s : s - yv;           // sigmoid(z) - y
      } else {
        const T q = std::min(std::max(v, eps), one_minus_eps);
        elem = -(yv * std::log(q) + (one - yv) * std::log(one - q));
        d = (v >= eps && v <= one_minus_eps) ? -(yv / q) + (one - yv) / (one - q) : T(0);
      }
      sample += elem;
      gr[k] = (d / k_count) * scale;
    }
    total += static_cast<double>(sample / k_count);
  }
  return total * static_cast<double>(scale);
}

template double binary_crossentropy<float>(index_t, index_t, const float*, const float*, bool,
                                           float, float*);
template double binary_crossentropy<double>(index_t, index_t, const double*, const double*,
                                            bool, double, double*);

}  // namespace fastrnn
