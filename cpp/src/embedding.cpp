#include "fastrnn/embedding.hpp"

#include <algorithm>
#include <cstring>

// The gather is split over the threads when it is large (a seed batch, 64,000 rows of 32,
// takes ~0.8 ms on one core); the gradient sums run on the calling thread.

namespace fastrnn {
namespace {
// Below this many output elements one thread does it all (a parallel region costs more).
constexpr index_t kParallelGather = index_t(1) << 16;
}  // namespace

template <typename T, typename I>
void embedding_forward(const T* table, index_t V, index_t E, const I* ids, index_t N, T* out) {
  (void)V;
  const int nt = N * E >= kParallelGather ? get_num_threads() : 1;
  (void)nt;
#ifdef FASTRNN_OPENMP
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
#endif
  for (index_t n = 0; n < N; ++n)
    std::memcpy(out + n * E, table + static_cast<index_t>(ids[n]) * E, E * sizeof(T));
}

template <typename T, typename I>
index_t embedding_backward(const I* ids, index_t N, const T* d, index_t E, index_t V,
                           index_t* uniq, T* sums, T* sq, index_t* slot) {
  std::fill(slot, slot + V, index_t(-1));
  for (index_t n = 0; n < N; ++n) slot[ids[n]] = 0;
  index_t U = 0;
  for (index_t v = 0; v < V; ++v)
    if (slot[v] == 0) { slot[v] = U; uniq[U++] = v; }
  std::fill(sums, sums + U * E, T(0));
  if (sq) std::fill(sq, sq + U * E, T(0));
  for (index_t n = 0; n < N; ++n) {
    const index_t s = slot[ids[n]];
    const T* src = d + n * E;
    T* dst = sums + s * E;
    for (index_t e = 0; e < E; ++e) dst[e] += src[e];
    if (sq) {
      T* q = sq + s * E;
      for (index_t e = 0; e < E; ++e) q[e] += src[e] * src[e];
    }
  }
  return U;
}

#define FASTRNN_EMBEDDING(T, I)                                                              \
  template void embedding_forward<T, I>(const T*, index_t, index_t, const I*, index_t, T*); \
  template index_t embedding_backward<T, I>(const I*, index_t, const T*, index_t, index_t,  \
                                            index_t*, T*, T*, index_t*);
FASTRNN_EMBEDDING(float, std::int32_t)
FASTRNN_EMBEDDING(float, std::int64_t)
FASTRNN_EMBEDDING(double, std::int32_t)
FASTRNN_EMBEDDING(double, std::int64_t)
#undef FASTRNN_EMBEDDING

}  // namespace fastrnn
