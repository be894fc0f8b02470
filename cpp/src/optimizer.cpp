// Fused optimizer steps (see fastrnn/optimizer.hpp for the formulas).
//
// Built with -ffp-contract=off (CMakeLists.txt): every product and sum is rounded on its own,
// as NumPy rounds them, so these results equal the NumPy implementation bit for bit.
//
// Threads: the rows are split into contiguous ranges of about equal work (a row of a sparse
// step costs its occurrence count plus one for the dense pass). Each thread sweeps all ids, sums the
// occurrences that fall in its range, in order of n, then updates its rows. No thread writes
// another's rows, so there is no barrier and the result is the same for any thread count.
// The sweep is bound by reading g, so a second thread gains little there; the dense pass
// (sqrt, division over all rows) is what it splits.
#include "fastrnn/optimizer.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#ifdef FASTRNN_OPENMP
#include <omp.h>
#endif

namespace fastrnn {
namespace {

constexpr int kMaxThreads = kSparseMaxThreads;
// Below this many table elements one thread does it all (a parallel region costs more).
constexpr index_t kParallelMinElements = 1 << 15;

template <typename T>
T nan_max(T a, T b) {  // np.maximum: NaN if either is NaN
  if (std::isnan(a) || std::isnan(b)) return std::numeric_limits<T>::quiet_NaN();
  return a > b ? a : b;
}

// Sums of the occurrences of rows [r0, r1), in order of n, into acc [V, stride]: row r holds
// its sum at acc[r*stride, +E) and, when squares, its sum of squares right after it (one
// block per row: the rows are hit in random order). A branch-free pass first lists this
// range's occurrences in `order` (random ids would mispredict a skip-branch half the time;
// the slot after the list absorbs the last unconditional store), then g's rows are read in
// that order, which is still increasing n.
template <typename T, typename I>
void sum_rows(const I* ids, index_t N, const T* g, index_t E, index_t r0, index_t r1,
              const index_t* counts, T* acc, bool squares, index_t* order) {
  const index_t stride = squares ? 2 * E : E;
  for (index_t r = r0; r < r1; ++r)
    if (counts[r]) std::fill(acc + r * stride, acc + (r + 1) * stride, T(0));
  index_t k = 0;
  for (index_t n = 0; n < N; ++n) {
    const index_t r = static_cast<index_t>(ids[n]);
    order[k] = n;
    k += static_cast<index_t>(r >= r0) & static_cast<index_t>(r < r1);
  }
  for (index_t j = 0; j < k; ++j) {
    const index_t n = order[j];
    const index_t r = static_cast<index_t>(ids[n]);
    const T* __restrict src = g + n * E;
    T* __restrict s = acc + r * stride;
    if (squares) {
      T* __restrict q = s + E;
      for (index_t e = 0; e < E; ++e) {
        s[e] += src[e];
        q[e] += src[e] * src[e];
      }
    } else {
      for (index_t e = 0; e < E; ++e) s[e] += src[e];
    }
  }
}

// Per-row updates once the sums are known. A row no id names (counts[r] == 0) takes the
// decay-only branch, which is exactly what the full formula gives with gs = gsq = 0; counts
// null (a dense step): every row is touched. The inner loops are branch-free so that they
// vectorise. acc is sum_rows' output, or a dense step's gradient; without squares (SGD, or
// gsq = gs*gs) its stride is E, else 2E.

// Row r's gradient sum gs and its gsq: the accumulated sum of squares (acc stride 2E), or
// gs*gs when there is none (stride E: merged).
template <typename T>
struct RowGrad {
  const T* gs;
  const T* gq;
  RowGrad(const T* acc, index_t r, index_t E, bool squares)
      : gs(acc + r * (squares ? 2 * E : E)), gq(squares ? gs + E : nullptr) {}
  T sq(index_t e) const { return gq ? gq[e] : gs[e] * gs[e]; }
};

template <typename T>
void sgd_rows(const OptimizerStep& st, T* w, const OptimizerSlots<T>& sl, index_t E, index_t r0,
              index_t r1, const index_t* counts, const T* acc) {
  const T lr = T(st.lr), mom = T(st.momentum);
  for (index_t r = r0; r < r1; ++r) {
    const index_t o = r * E;
    const bool touched = !counts || counts[r] > 0;
    T* __restrict wr = w + o;
    const T* __restrict gs = acc + o;
    if (!sl.momentum) {
      if (touched)
        for (index_t e = 0; e < E; ++e) wr[e] -= gs[e] * lr;
      continue;
    }
    T* __restrict m = sl.momentum + o;
    if (touched) {
      for (index_t e = 0; e < E; ++e) {
        const T mv = m[e] * mom - gs[e] * lr;
        m[e] = mv;
        wr[e] += st.nesterov ? mv * mom - gs[e] * lr : mv;
      }
    } else {
      for (index_t e = 0; e < E; ++e) {
        const T mv = m[e] * mom;
        m[e] = mv;
        wr[e] += st.nesterov ? mv * mom : mv;
      }
    }
  }
}

template <typename T, bool kCentered, bool kMomentum>
void rmsprop_rows(const OptimizerStep& st, T* w, const OptimizerSlots<T>& sl, index_t E, index_t r0,
                  index_t r1, const index_t* counts, const T* acc, bool squares) {
  const T lr = T(st.lr), eps = T(st.epsilon), mom = T(st.momentum);
  const T rho = T(st.rho), c = T(1.0 - st.rho);
  for (index_t r = r0; r < r1; ++r) {
    const index_t o = r * E;
    T* __restrict wr = w + o;
    T* __restrict v = sl.velocity + o;
    T* __restrict a = kCentered ? sl.average_gradient + o : nullptr;
    T* __restrict m = kMomentum ? sl.momentum + o : nullptr;
    if (counts && counts[r] == 0) {
      for (index_t e = 0; e < E; ++e) {
        v[e] *= rho;
        if (kCentered) a[e] *= rho;
        if (kMomentum) {
          m[e] *= mom;
          wr[e] -= m[e];
        }
      }
      continue;
    }
    const RowGrad<T> g(acc, r, E, squares);
    const T* __restrict gs = g.gs;
    for (index_t e = 0; e < E; ++e) {
      const T g2 = g.sq(e);
      const T vv = v[e] * rho + c * g2;
      v[e] = vv;
      T denom = vv + eps;
      if (kCentered) {
        const T av = a[e] * rho + c * gs[e];
        a[e] = av;
        denom = (vv - av * av) + eps;
      }
      const T inc = (lr * gs[e]) / std::sqrt(denom);
      if (kMomentum) {
        const T mv = m[e] * mom + inc;
        m[e] = mv;
        wr[e] -= mv;
      } else {
        wr[e] -= inc;
      }
    }
  }
}

template <typename T, bool kAmsgrad>
void adam_rows(const OptimizerStep& st, T* w, const OptimizerSlots<T>& sl, index_t E, index_t r0,
               index_t r1, const index_t* counts, const T* acc, bool squares) {
  const T alpha = T(st.lr), eps = T(st.epsilon);
  const T c1 = T(1.0 - st.beta_1), c2 = T(1.0 - st.beta_2);
  for (index_t r = r0; r < r1; ++r) {
    const index_t o = r * E;
    T* __restrict wr = w + o;
    T* __restrict m = sl.momentum + o;
    T* __restrict v = sl.velocity + o;
    T* __restrict vh = kAmsgrad ? sl.velocity_hat + o : nullptr;
    auto finish = [&](index_t e, T mv, T vv) {
      m[e] = mv;
      v[e] = vv;
      if (kAmsgrad) vv = vh[e] = nan_max(vh[e], vv);
      wr[e] -= (mv * alpha) / (std::sqrt(vv) + eps);
    };
    if (counts && counts[r] == 0) {
      // m + (0 - m)*c1 == m - m*c1 exactly (likewise for v): Keras' decay of these rows.
      for (index_t e = 0; e < E; ++e) finish(e, m[e] - m[e] * c1, v[e] - v[e] * c2);
      continue;
    }
    const RowGrad<T> g(acc, r, E, squares);
    const T* __restrict gs = g.gs;
    for (index_t e = 0; e < E; ++e) {
      const T g2 = g.sq(e);
      finish(e, m[e] + (gs[e] - m[e]) * c1, v[e] + (g2 - v[e]) * c2);
    }
  }
}

template <typename T>
void update_rows(const OptimizerStep& st, T* w, const OptimizerSlots<T>& sl, index_t E, index_t r0,
                 index_t r1, const index_t* counts, const T* acc, bool squares) {
  switch (st.kind) {
    case OptimizerKind::SGD:
      return sgd_rows(st, w, sl, E, r0, r1, counts, acc);
    case OptimizerKind::RMSprop:
      if (st.centered)
        return sl.momentum ? rmsprop_rows<T, true, true>(st, w, sl, E, r0, r1, counts, acc, squares)
                           : rmsprop_rows<T, true, false>(st, w, sl, E, r0, r1, counts, acc, squares);
      return sl.momentum ? rmsprop_rows<T, false, true>(st, w, sl, E, r0, r1, counts, acc, squares)
                         : rmsprop_rows<T, false, false>(st, w, sl, E, r0, r1, counts, acc, squares);
    case OptimizerKind::Adam:
      return st.amsgrad ? adam_rows<T, true>(st, w, sl, E, r0, r1, counts, acc, squares)
                        : adam_rows<T, false>(st, w, sl, E, r0, r1, counts, acc, squares);
  }
}

// The team size of a step over V rows of E.
int step_threads(const OptimizerStep& st, index_t V, index_t E) {
  const int nt = st.threads > 0 ? st.threads : get_num_threads();
  if (V * E < kParallelMinElements) return 1;
  return std::max(1, std::min({nt, kMaxThreads, static_cast<int>(std::min<index_t>(V, kMaxThreads))}));
}

// work(t) for t in [0, nt), on nt threads when there are several.
template <typename F>
void for_each_range(int nt, F work) {
#ifdef FASTRNN_OPENMP
  if (nt > 1) {
#pragma omp parallel num_threads(nt)
    {  // the runtime may grant fewer threads than asked: every range is still done
      const int team = omp_get_num_threads();
      for (int t = omp_get_thread_num(); t < nt; t += team) work(t);
    }
    return;
  }
#endif
  for (int t = 0; t < nt; ++t) work(t);
}

}  // namespace

template <typename T, typename I>
void sparse_optimizer_step(const OptimizerStep& st, T* table, const OptimizerSlots<T>& slots,
                           index_t V, index_t E, const I* ids, index_t N, const T* g,
                           const SparseScratch<T>& scratch) {
  if (V <= 0 || E <= 0) return;
  index_t* counts = scratch.counts;
  std::fill(counts, counts + V, index_t(0));
  for (index_t n = 0; n < N; ++n) ++counts[ids[n]];
  const bool squares = !st.merged && st.kind != OptimizerKind::SGD;

  const int nt = step_threads(st, V, E);
  // Row split at equal shares of the total cost sum(count + 1).
  std::array<index_t, kMaxThreads + 1> bounds{};
  {
    const index_t total = N + V;
    index_t r = 0, acc = 0;
    for (int t = 1; t < nt; ++t) {
      const index_t target = total * t / nt;
      while (r < V && acc + counts[r] + 1 <= target) acc += counts[r++] + 1;
      bounds[t] = r;
    }
    bounds[nt] = V;
  }
  // Thread t lists its occurrences at order[t + (occurrences of the rows before its range)].
  std::array<index_t, kMaxThreads + 1> first{};
  for (int t = 0; t < nt; ++t) {
    index_t c = 0;
    for (index_t r = bounds[t]; r < bounds[t + 1]; ++r) c += counts[r];
    first[t + 1] = first[t] + c + 1;
  }
  auto work = [&](int t) {
    const index_t r0 = bounds[t], r1 = bounds[t + 1];
    sum_rows(ids, N, g, E, r0, r1, counts, scratch.acc, squares, scratch.order + first[t]);
    update_rows(st, table, slots, E, r0, r1, counts, scratch.acc, squares);
  };
  for_each_range(nt, work);
}

template <typename T>
void dense_optimizer_step(const OptimizerStep& st, T* w, const OptimizerSlots<T>& slots,
                          index_t V, index_t E, const T* g) {
  if (V <= 0 || E <= 0) return;
  const int nt = step_threads(st, V, E);
  for_each_range(nt, [&](int t) {
    update_rows(st, w, slots, E, V * t / nt, V * (t + 1) / nt, nullptr, g, false);
  });
}

#define FASTRNN_SPARSE_STEP(T, I)                                                         \
  template void sparse_optimizer_step<T, I>(const OptimizerStep&, T*, const OptimizerSlots<T>&, \
                                            index_t, index_t, const I*, index_t, const T*,  \
                                            const SparseScratch<T>&);
FASTRNN_SPARSE_STEP(float, std::int32_t)
FASTRNN_SPARSE_STEP(float, std::int64_t)
FASTRNN_SPARSE_STEP(double, std::int32_t)
FASTRNN_SPARSE_STEP(double, std::int64_t)
#undef FASTRNN_SPARSE_STEP
template void dense_optimizer_step<float>(const OptimizerStep&, float*,
                                          const OptimizerSlots<float>&, index_t, index_t,
                                          const float*);
template void dense_optimizer_step<double>(const OptimizerStep&, double*,
                                           const OptimizerSlots<double>&, index_t, index_t,
                                           const double*);

}  // namespace fastrnn
