// Dense forward/backward (see fastrnn/dense.hpp). The products use the recurrent kernels'
// GEMMs (gemm.hpp): the packed micro-kernel over row blocks split among the threads, and the
// unpacked x^T dz for the kernel gradient on one thread. Activations are the scalar formulas
// of activations.hpp (sigmoid, tanh, relu as the NumPy oracle computes them), so no result
// depends on vector peeling, i.e. on alignment.
#include "fastrnn/dense.hpp"

#include <algorithm>
#include <cmath>

#include "activations.hpp"
#include "gemm.hpp"

#ifdef FASTRNN_OPENMP
#include <omp.h>
#endif

namespace fastrnn {
namespace {
using detail::gemm_rows;
using detail::gemm_tn;
using detail::pack_b;
using detail::packed_size;

// Below this many multiply-adds a product runs on the calling thread.
constexpr index_t kParallelWork = index_t(1) << 18;

// f(r0, r1) over contiguous row blocks, one per thread.
template <typename F>
void for_row_blocks(index_t N, index_t work, F f) {
  int nt = work >= kParallelWork ? get_num_threads() : 1;
  nt = static_cast<int>(std::max<index_t>(1, std::min<index_t>(nt, N)));
#ifdef FASTRNN_OPENMP
  if (nt > 1) {
#pragma omp parallel num_threads(nt)
    {
      const int team = omp_get_num_threads();
      for (int t = omp_get_thread_num(); t < nt; t += team) f(N * t / nt, N * (t + 1) / nt);
    }
    return;
  }
#endif
  for (int t = 0; t < nt; ++t) f(N * t / nt, N * (t + 1) / nt);
}

// y[r0:r1] = act(z[r0:r1]) (y may equal z).
template <typename T>
void activate_rows(index_t r0, index_t r1, index_t U, DenseActivation act, const T* z, T* y) {
  const index_t a = r0 * U, b = r1 * U;
  if (act.linear()) {
    if (y != z) std::copy(z + a, z + b, y + a);
  } else if (!act.softmax) {
    fastrnn::act::forward_scalars(act.elementwise, z + a, y + a, b - a);
  } else {
    for (index_t n = r0; n < r1; ++n) {  // shifted by the row maximum like tf.nn.softmax
      const T* zr = z + n * U;
      T* yr = y + n * U;
      const T m = *std::max_element(zr, zr + U);
      T s = 0;
      for (index_t u = 0; u < U; ++u) s += (yr[u] = std::exp(zr[u] - m));
      for (index_t u = 0; u < U; ++u) yr[u] /= s;
    }
  }
}

// dz[r0:r1] = dy * act'(z) expressed through y = act(z).
template <typename T>
void activation_grad_rows(index_t r0, index_t r1, index_t U, DenseActivation act,
                          bool wrt_logits, const T* dy, const T* y, T* dz) {
  const index_t a = r0 * U, b = r1 * U;
  if (wrt_logits || act.linear()) {
    std::copy(dy + a, dy + b, dz + a);
  } else if (!act.softmax) {
    fastrnn::act::backward_scalars(act.elementwise, dy + a, y + a, dz + a, b - a);
  } else {
    for (index_t n = r0; n < r1; ++n) {  // dz = y * (dy - <dy, y>) per row
      const T* gr = dy + n * U;
      const T* yr = y + n * U;
      T dot = 0;
      for (index_t u = 0; u < U; ++u) dot += gr[u] * yr[u];
      for (index_t u = 0; u < U; ++u) dz[n * U + u] = yr[u] * (gr[u] - dot);
    }
  }
}

}  // namespace

template <typename T>
std::size_t dense_scratch_size(index_t K, index_t U) {
  return std::max(packed_size<T>(K, U), packed_size<T>(U, K));
}

template <typename T>
void dense_forward(index_t N, index_t K, index_t U, const T* x, const T* kernel, const T* bias,
                   DenseActivation act, T* z, T* y, T* scratch) {
  pack_b<T>(K, U, [&](index_t k, index_t j) { return kernel[k * U + j]; }, scratch);
  for_row_blocks(N, N * K * U, [&](index_t r0, index_t r1) {
    gemm_rows<T>(x + r0 * K, K, r1 - r0, K, scratch, U, z + r0 * U, U, false);
    if (bias)
      for (index_t n = r0; n < r1; ++n)
        for (index_t u = 0; u < U; ++u) z[n * U + u] += bias[u];
    activate_rows(r0, r1, U, act, z, y);
  });
}

template <typename T>
void dense_backward(index_t N, index_t K, index_t U, const T* x, const T* kernel, const T* dy,
                    const T* y, DenseActivation act, bool wrt_logits, T* dz, T* d_kernel,
                    T* d_bias, T* dx, T* scratch) {
  for_row_blocks(N, N * U, [&](index_t r0, index_t r1) {
    activation_grad_rows(r0, r1, U, act, wrt_logits, dy, y, dz);
  });
  gemm_tn<T>(x, K, N, K, dz, U, U, d_kernel, U);
  if (d_bias) {
    std::fill(d_bias, d_bias + U, T(0));
    for (index_t n = 0; n < N; ++n)
      for (index_t u = 0; u < U; ++u) d_bias[u] += dz[n * U + u];
  }
  if (dx) {
    pack_b<T>(U, K, [&](index_t k, index_t j) { return kernel[j * U + k]; }, scratch);
    for_row_blocks(N, N * K * U, [&](index_t r0, index_t r1) {
      gemm_rows<T>(dz + r0 * U, U, r1 - r0, U, scratch, K, dx + r0 * K, K, false);
    });
  }
}

#define FASTRNN_DENSE(T)                                                                     \
  template std::size_t dense_scratch_size<T>(index_t, index_t);                              \
  template void dense_forward<T>(index_t, index_t, index_t, const T*, const T*, const T*,    \
                                 DenseActivation, T*, T*, T*);                               \
  template void dense_backward<T>(index_t, index_t, index_t, const T*, const T*, const T*,   \
                                  const T*, DenseActivation, bool, T*, T*, T*, T*, T*);
FASTRNN_DENSE(float)
FASTRNN_DENSE(double)
#undef FASTRNN_DENSE

}  // namespace fastrnn
