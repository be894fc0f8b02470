// Optimizer steps (SGD, RMSprop, Adam) updating weights and their slots IN PLACE, for
//   - an embedding table whose gradient arrives as occurrences (Keras' tf.IndexedSlices):
//     occurrence n adds the row g[n,:] to row ids[n] of the table; ids repeat
//     (sparse_optimizer_step);
//   - a dense weight with its dense gradient (dense_optimizer_step).
//
// Shapes: the weight (table) and every slot [V,E] (a dense weight of any shape is V = its
// leading axis, E = the rest); ids [N]; g [N,E] (sparse) or [V,E] (dense). Row-major,
// caller-owned; the sparse step's scratch is caller memory (SparseScratch).
//
// Semantics are Keras 3's, written as one pass over all V rows with the per-row gradient gs
// (dense: the row of g; sparse: the sum of the row's occurrences, 0 for rows no id names) and,
// where an optimizer squares the gradient, gsq: dense g*g; sparse the sum of each occurrence's
// square (Keras squares IndexedSlices values before it scatter-adds them) or, with `merged`,
// gs*gs (what Keras does once a clip has made the gradient dense). Occurrences of a row are
// added in order of n, so the result does not depend on the thread count. Each formula is
// evaluated in the same order and float rounding as fastrnn's NumPy implementation
// (python/fastrnn/optimizers.py), which is the test oracle:
//   SGD      m = mom*m - lr*gs;  w += m (nesterov: w += mom*m - lr*gs); mom = 0: w -= gs*lr
//   RMSprop  v = rho*v + (1-rho)*gsq;  [centered: a = rho*a + (1-rho)*gs]
//            inc = lr*gs / sqrt(v [- a^2] + eps) on touched rows;  w -= inc, or with
//            momentum: m = mom*m + inc (all rows), w -= m
//   Adam     m += (gs - m)(1-b1);  v += (gsq - v)(1-b2);  [amsgrad: vh = max(vh, v)]
//            w -= m*alpha / (sqrt(v or vh) + eps)    (alpha: bias-corrected rate, by caller)
// Rows no id names still decay (momentum, velocity), as in Keras.
#pragma once

#include "fastrnn/common.hpp"

namespace fastrnn {

enum class OptimizerKind { SGD, RMSprop, Adam };

// Hyper-parameters in double, as Keras holds them; the kernel rounds each to T once (and
// 1-rho, 1-beta_1, 1-beta_2 are rounded after the subtraction in double, like Keras/NumPy).
struct OptimizerStep {
  OptimizerKind kind = OptimizerKind::SGD;
  double lr = 0;        // SGD/RMSprop: learning rate; Adam: alpha (bias correction applied)
  double momentum = 0;  // SGD, RMSprop
  bool nesterov = false;
  double rho = 0.9;     // RMSprop
  bool centered = false;
  double beta_1 = 0.9, beta_2 = 0.999;  // Adam
  bool amsgrad = false;
  double epsilon = 1e-7;
  bool merged = false;  // sparse step: gsq = gs*gs instead of the sum of squares
  int threads = 0;      // 0 = get_num_threads()
};

// Slots, each [V,E] or null when the optimizer does not use it:
//   SGD: momentum (null when momentum == 0); RMSprop: velocity, momentum (momentum > 0),
//   average_gradient (centered); Adam: momentum, velocity, velocity_hat (amsgrad).
template <typename T>
struct OptimizerSlots {
  T* momentum = nullptr;
  T* velocity = nullptr;
  T* average_gradient = nullptr;
  T* velocity_hat = nullptr;
};

// The sparse step's caller-owned scratch: acc [V, 2E], the per-row sums and sums of squares,
// side by side (only [V, E] is used by SGD and with `merged`), the occurrence count of each
// row, counts [V], and order [N + kSparseMaxThreads], the occurrences grouped by thread.
// Contents on entry do not matter.
constexpr int kSparseMaxThreads = 256;
template <typename T>
struct SparseScratch {
  T* acc = nullptr;
  index_t* counts = nullptr;
  index_t* order = nullptr;
};

// One step of a table from occurrences. ids must lie in [0,V) (checked by the caller).
// Allocates nothing.
template <typename T, typename I>
void sparse_optimizer_step(const OptimizerStep& step, T* table, const OptimizerSlots<T>& slots,
                           index_t V, index_t E, const I* ids, index_t N, const T* g,
                           const SparseScratch<T>& scratch);

// One step of a dense weight from its gradient g [V,E] (step.merged is ignored: gsq = g*g).
// Allocates nothing.
template <typename T>
void dense_optimizer_step(const OptimizerStep& step, T* w, const OptimizerSlots<T>& slots,
                          index_t V, index_t E, const T* g);

}  // namespace fastrnn
