#include "fastrnn/embedding.hpp"

#include <algorithm>
#include <cstring>

#ifdef FASTRNN_OPENMP
#include <omp.h>
#endif

namespace fastrnn {

template <typename T, typename I>
void embedding_forward(const T* table, index_t V, index_t E, const I* ids, index_t N, T* out) {
  (void)V;
#ifdef FASTRNN_OPENMP
#pragma omp parallel for schedule(static) if (N * E > 65536)
#endif
  for (index_t n = 0; n < N; ++n)
    std::memcpy(out + n * E, table + static_cast<index_t>(ids[n]) * E, E * sizeof(T));
}

template <typename T, typename I>
index_t embedding_backward(const I* ids, index_t N, const T* d, index_t E, index_t V,
                           index_t* uniq, T* sums, index_t* slot) {
  std::fill(slot, slot + V, index_t(-1));
  for (index_t n = 0; n < N; ++n) slot[ids[n]] = 0;
  index_t U = 0;
  for (index_t v = 0; v < V; ++v)
    if (slot[v] == 0) { slot[v] = U; uniq[U++] = v; }
  std::fill(sums, sums + U * E, T(0));
  // Each thread owns a range of output rows and scans all ids: no races, fixed order.
#ifdef FASTRNN_OPENMP
#pragma omp parallel if (N * E > 65536)
#endif
  {
#ifdef FASTRNN_OPENMP
    const index_t nt = omp_get_num_threads(), id = omp_get_thread_num();
#else
    const index_t nt = 1, id = 0;
#endif
    const index_t lo = U * id / nt, hi = U * (id + 1) / nt;
    for (index_t n = 0; n < N; ++n) {
      const index_t s = slot[ids[n]];
      if (s < lo || s >= hi) continue;
      T* dst = sums + s * E;
      const T* src = d + n * E;
      for (index_t e = 0; e < E; ++e) dst[e] += src[e];
    }
  }
  return U;
}

#define FASTRNN_EMBEDDING(T, I)                                                              \
  template void embedding_forward<T, I>(const T*, index_t, index_t, const I*, index_t, T*); \
  template index_t embedding_backward<T, I>(const I*, index_t, const T*, index_t, index_t,  \
                                            index_t*, T*, index_t*);
FASTRNN_EMBEDDING(float, std::int32_t)
FASTRNN_EMBEDDING(float, std::int64_t)
FASTRNN_EMBEDDING(double, std::int32_t)
FASTRNN_EMBEDDING(double, std::int64_t)
#undef FASTRNN_EMBEDDING

}  // namespace fastrnn
