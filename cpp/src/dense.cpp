// Dense forward/backward (see fastrnn/dense.hpp). The GEMMs are Eigen's (threaded by
// set_num_threads through Eigen::setNbThreads); the activations are element-wise passes.
#include "fastrnn/dense.hpp"

#include <Eigen/Core>
#include <algorithm>
#include <cmath>

namespace fastrnn {
namespace {

template <typename T>
using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <typename T>
using Map = Eigen::Map<Mat<T>>;
template <typename T>
using CMap = Eigen::Map<const Mat<T>>;

// Row-wise softmax of z into y, shifted by the row maximum like tf.nn.softmax.
template <typename T>
void softmax_rows(index_t N, index_t U, const T* z, T* y) {
  for (index_t n = 0; n < N; ++n) {
    const T* zr = z + n * U;
    T* yr = y + n * U;
    const T m = *std::max_element(zr, zr + U);
    T s = 0;
    for (index_t u = 0; u < U; ++u) s += (yr[u] = std::exp(zr[u] - m));
    for (index_t u = 0; u < U; ++u) yr[u] /= s;
  }
}

}  // namespace

template <typename T>
void dense_forward(index_t N, index_t K, index_t U, const T* x, const T* kernel, const T* bias,
                   DenseActivation act, T* z, T* y) {
  Map<T> zm(z, N, U);
  zm.noalias() = CMap<T>(x, N, K) * CMap<T>(kernel, K, U);
  if (bias) zm.rowwise() += Eigen::Map<const Eigen::Matrix<T, 1, Eigen::Dynamic>>(bias, U);
  auto za = zm.array();
  auto ya = Map<T>(y, N, U).array();
  switch (act) {
    case DenseActivation::Linear:
      if (y != z) ya = za;
      break;
    case DenseActivation::Relu: ya = za.cwiseMax(T(0)); break;
    case DenseActivation::Sigmoid: ya = za.logistic(); break;
    case DenseActivation::Tanh: ya = za.tanh(); break;
    case DenseActivation::Softmax: softmax_rows(N, U, z, y); break;
  }
}

template <typename T>
void dense_backward(index_t N, index_t K, index_t U, const T* x, const T* kernel, const T* dy,
                    const T* y, DenseActivation act, bool wrt_logits, T* dz, T* d_kernel,
                    T* d_bias, T* dx) {
  auto g = CMap<T>(dy, N, U).array();
  auto ya = CMap<T>(y, N, U).array();
  Map<T> dzm(dz, N, U);
  auto d = dzm.array();
  if (wrt_logits) {
    d = g;
  } else {
    switch (act) {
      case DenseActivation::Linear: d = g; break;
      case DenseActivation::Relu: d = (ya > T(0)).select(g, T(0)); break;
      case DenseActivation::Sigmoid: d = g * ya * (T(1) - ya); break;
      case DenseActivation::Tanh: d = g * (T(1) - ya.square()); break;
      case DenseActivation::Softmax:
        for (index_t n = 0; n < N; ++n) {  // dz = y * (dy - <dy, y>) per row
          const T* gr = dy + n * U;
          const T* yr = y + n * U;
          T dot = 0;
          for (index_t u = 0; u < U; ++u) dot += gr[u] * yr[u];
          for (index_t u = 0; u < U; ++u) dz[n * U + u] = yr[u] * (gr[u] - dot);
        }
        break;
    }
  }
  Map<T>(d_kernel, K, U).noalias() = CMap<T>(x, N, K).transpose() * dzm;
  if (d_bias) Eigen::Map<Eigen::Matrix<T, 1, Eigen::Dynamic>>(d_bias, U) = dzm.colwise().sum();
  if (dx) Map<T>(dx, N, K).noalias() = dzm * CMap<T>(kernel, K, U).transpose();
}

#define FASTRNN_DENSE(T)                                                                     \
  template void dense_forward<T>(index_t, index_t, index_t, const T*, const T*, const T*,    \
                                 DenseActivation, T*, T*);                                   \
  template void dense_backward<T>(index_t, index_t, index_t, const T*, const T*, const T*,   \
                                  const T*, DenseActivation, bool, T*, T*, T*, T*);
FASTRNN_DENSE(float)
FASTRNN_DENSE(double)
#undef FASTRNN_DENSE

}  // namespace fastrnn
