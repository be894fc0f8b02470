// Runtime CPU dispatch (portable builds, FASTRNN_NATIVE=OFF on x86-64 Linux; see
// cmake/dispatch.cmake). The kernels are compiled three times, for x86-64 (baseline),
// x86-64-v3 (avx2: AVX2, FMA, F16C, BMI2) and x86-64-v4 (avx512: AVX-512 F/BW/CD/DQ/VL). Each
// variant's objects are partial-linked into one object with their COMDAT groups dissolved and
// every symbol made local but its IsaTable, fastrnn_isa_<variant> (isa_entry.cpp): so no
// function compiled for one variant (ours, an Eigen or standard-library template instance) can
// be chosen by the linker for another. isa.cpp picks one variant once, the best the CPU and
// the OS support unless FASTRNN_ISA names a lower one, and isa_dispatch.cpp defines the public
// API (the headers in cpp/include/fastrnn, unchanged) as calls through that variant's table.
#pragma once

#include <cstddef>
#include <cstdint>

#include "fastrnn/fastrnn.hpp"

namespace fastrnn {
namespace detail {

// The public functions, each once: X(field, return type, (parameters), (arguments), name) for
// a function, XT(...) the same for an instance of a function template.
#define FASTRNN_ISA_TYPED_API(X, XT, T, t)                                                     \
  XT(pack_weights_##t, void, (const RnnSpec& s, const T* k, const T* rk, T* out),             \
     (s, k, rk, out), pack_weights<T>)                                                         \
  XT(forward_##t, void, (const RnnSpec& s, const ForwardArgs<T>& a), (s, a), forward<T>)      \
  XT(backward_##t, void, (const RnnSpec& s, const BackwardArgs<T>& a), (s, a), backward<T>)   \
  XT(dense_scratch_size_##t, std::size_t, (index_t K, index_t U), (K, U),                     \
     dense_scratch_size<T>)                                                                    \
  XT(dense_forward_##t, void,                                                                  \
     (index_t N, index_t K, index_t U, const T* x, const T* kernel, const T* bias,            \
      DenseActivation act, T* z, T* y, T* scratch),                                           \
     (N, K, U, x, kernel, bias, act, z, y, scratch), dense_forward<T>)                        \
  XT(dense_backward_##t, void,                                                                 \
     (index_t N, index_t K, index_t U, const T* x, const T* kernel, const T* dy, const T* y,  \
      DenseActivation act, bool wrt_logits, T* dz, T* d_kernel, T* d_bias, T* dx,             \
      T* scratch),                                                                             \
     (N, K, U, x, kernel, dy, y, act, wrt_logits, dz, d_kernel, d_bias, dx, scratch),         \
     dense_backward<T>)                                                                        \
  XT(binary_crossentropy_##t, double,                                                          \
     (index_t N, index_t K, const T* y, const T* p, bool from_logits, T scale, T* grad),      \
     (N, K, y, p, from_logits, scale, grad), binary_crossentropy<T>)                          \
  XT(dense_optimizer_step_##t, void,                                                           \
     (const OptimizerStep& step, T* w, const OptimizerSlots<T>& slots, index_t V, index_t E,  \
      const T* g),                                                                             \
     (step, w, slots, V, E, g), dense_optimizer_step<T>)

#define FASTRNN_ISA_INDEXED_API(X, XT, T, I, ti)                                               \
  XT(embedding_forward_##ti, void,                                                             \
     (const T* table, index_t V, index_t E, const I* ids, index_t N, T* out),                 \
     (table, V, E, ids, N, out), embedding_forward<T, I>)                                     \
  XT(embedding_backward_##ti, index_t,                                                         \
     (const I* ids, index_t N, const T* d, index_t E, index_t V, index_t* uniq, T* sums,      \
      T* sq, index_t* slot),                                                                   \
     (ids, N, d, E, V, uniq, sums, sq, slot), embedding_backward<T, I>)                       \
  XT(sparse_optimizer_step_##ti, void,                                                         \
     (const OptimizerStep& step, T* table, const OptimizerSlots<T>& slots, index_t V,         \
      index_t E, const I* ids, index_t N, const T* g, const SparseScratch<T>& scratch),       \
     (step, table, slots, V, E, ids, N, g, scratch), sparse_optimizer_step<T, I>)

#define FASTRNN_ISA_API(X, XT)                                                                 \
  X(cell_info, const CellInfo&, (Cell c), (c), cell_info)                                      \
  X(cell_from_name, bool, (const char* name, Cell* c), (name, c), cell_from_name)              \
  X(activation_name, const char*, (Activation a), (a), activation_name)                        \
  X(activation_from_name, bool, (const char* name, Activation* a), (name, a),                 \
    activation_from_name)                                                                      \
  X(set_num_threads, void, (int n), (n), set_num_threads)                                      \
  X(get_num_threads, int, (), (), get_num_threads)                                             \
  X(openmp_enabled, bool, (), (), openmp_enabled)                                              \
  X(validate, void, (const RnnSpec& s), (s), validate)                                         \
  X(bias_rows, index_t, (const RnnSpec& s), (s), bias_rows)                                    \
  X(bias_size, std::size_t, (const RnnSpec& s), (s), bias_size)                                \
  X(cache_size, std::size_t, (const RnnSpec& s), (s), cache_size)                              \
  X(forward_workspace_size, std::size_t, (const RnnSpec& s), (s), forward_workspace_size)      \
  X(backward_workspace_size, std::size_t, (const RnnSpec& s), (s), backward_workspace_size)    \
  X(packed_weights_size, std::size_t, (const RnnSpec& s), (s), packed_weights_size)            \
  X(precision_isa, const char*, (Precision p), (p), precision_isa)                             \
  X(limit_precision_isa, void, (PrecisionIsa limit), (limit), limit_precision_isa)             \
  FASTRNN_ISA_TYPED_API(X, XT, float, f32)                                                     \
  FASTRNN_ISA_TYPED_API(X, XT, double, f64)                                                    \
  FASTRNN_ISA_INDEXED_API(X, XT, float, std::int32_t, f32_i32)                                 \
  FASTRNN_ISA_INDEXED_API(X, XT, float, std::int64_t, f32_i64)                                 \
  FASTRNN_ISA_INDEXED_API(X, XT, double, std::int32_t, f64_i32)                                \
  FASTRNN_ISA_INDEXED_API(X, XT, double, std::int64_t, f64_i64)

// RnnKernel<T> of one variant behind an opaque pointer (the class's members, as functions).
template <typename T>
struct KernelOps {
  void* (*create)(Cell cell, index_t input, index_t hidden, const RnnOptions& options);
  void (*destroy)(void* k);
  const RnnSpec& (*spec)(const void* k);
  void (*bind_weights)(void* k, const RnnWeights<T>& w);
  const RnnWeights<T>& (*weights)(const void* k);
  void (*drop_packed_weights)(void* k);
  void (*forward)(void* k, const KernelForward<T>& call);
  void (*backward)(void* k, const KernelBackward<T>& call);
  index_t (*trained_batch)(const void* k);
  index_t (*trained_steps)(const void* k);
  void (*set_precision)(void* k, Precision p);
  Precision (*precision)(const void* k);
};

struct IsaTable {
#define FASTRNN_ISA_FIELD(field, ret, params, args, ...) ret(*field) params;
  FASTRNN_ISA_API(FASTRNN_ISA_FIELD, FASTRNN_ISA_FIELD)
#undef FASTRNN_ISA_FIELD
  KernelOps<float> kernel_f32;
  KernelOps<double> kernel_f64;
};

// The variant this process runs (chosen on the first call; throws std::runtime_error when
// FASTRNN_ISA names an unknown variant or one the CPU lacks).
const IsaTable& active_isa();

}  // namespace detail
}  // namespace fastrnn

// One per variant, the only global symbols of the variants' objects.
extern "C" {
extern const fastrnn::detail::IsaTable fastrnn_isa_baseline;
extern const fastrnn::detail::IsaTable fastrnn_isa_avx2;
extern const fastrnn::detail::IsaTable fastrnn_isa_avx512;
}
