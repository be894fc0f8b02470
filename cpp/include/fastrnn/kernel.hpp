// A recurrent layer's kernel object: built once from the cell, its sizes and options (checked
// there), it owns the training cache and manages its workspaces, and is called with the
// per-call arrays only. The backward of a training forward needs no inputs again: the kernel
// keeps what that forward used. Conventions (shapes, layouts, masks, dropout) in common.hpp;
// the low-level kernels it runs in rnn.hpp.
//
// Memory: the cache is the kernel's own (grown to the largest training forward, kept). A
// workspace is scratch of one call: each call takes one from a pool that the kernels of the
// process share (created on first need, grown and kept; 2 MiB-aligned and advised as huge
// pages when large), so a model's layers, called one after the other, reuse the same memory.
//
// Packed weights: every forward call first copies the weights into the panel layout its time
// loop reads (see pack_weights in rnn.hpp), which is most of the time of a call that runs one
// step. An inference call with `reuse_packed_weights` reads the kernel's own packed copy
// instead, made by the first such call after bind_weights or drop_packed_weights: the caller
// promises that the bound arrays have not changed since (an optimizer step changes them: call
// drop_packed_weights after it).
//
// Precision: float32 by default (the parity reference). set_precision(BFloat16 or Int8) makes
// inference calls (training == false) run the recurrent and input products with the weights
// in that precision (cpp/src/quantized.hpp: rounding, scales, instructions), always on the
// kernel's own packed copy, made by the first such call after bind_weights,
// drop_packed_weights or set_precision; the cell's element-wise step stays float32. Training
// calls then throw std::logic_error. float kernels only; cells with a fused forward only
// (GRU: reset_after); no dropout.
//
// Threads: forward with training == false may run concurrently from any number of threads
// (each call holds its own workspace). A training forward and the backward use the kernel's
// cache, so they run one at a time: a training call while another one runs throws
// std::runtime_error. bind_weights must not run concurrently with calls. Every call fixes the
// OpenMP thread count when it starts.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "fastrnn/rnn.hpp"

namespace fastrnn {

enum class Precision { Float32, BFloat16, Int8 };

// The instructions of reduced-precision products in this process: "amx_bf16", "amx_int8",
// "avx512_bf16", "avx512_vnni" or "portable" (what the CPU has, within the limit below).
const char* precision_isa(Precision p);
// The best instructions those products may use: Best (default), Avx512 (no AMX), Portable
// (plain loops): for tests of every path on one machine.
enum class PrecisionIsa { Best, Avx512, Portable };
void limit_precision_isa(PrecisionIsa limit);

// The layer's weights: kernel [D,G*H], recurrent_kernel [H,G*H], bias [bias_size] (null
// without use_bias). The kernel reads them at every call; they must outlive the calls.

template <typename T>
struct RnnWeights {
  const T* kernel = nullptr;
  const T* recurrent_kernel = nullptr;
  const T* bias = nullptr;
};

// One forward call. Nullable pointers as in ForwardArgs (rnn.hpp). With `training`, the kernel
// keeps x, mask and the dropout masks (pointers: they must stay valid until the backward or
// the next training forward) and writes its cache.
template <typename T>
struct KernelForward {
  index_t batch = 0, steps = 0;
  const T* x = nullptr;                 // [B,T,D]
  const T* h0 = nullptr;                // [B,H] (null: zeros)
  const T* c0 = nullptr;                // [B,H] second state (null: zeros)
  const std::uint8_t* mask = nullptr;   // [B,T] (null: all valid)
  const T* input_dropout = nullptr;     // [groups,B,D]
  int input_dropout_groups = 0;         // 0, 1 or G
  const T* recurrent_dropout = nullptr; // [groups,B,H]
  int recurrent_dropout_groups = 0;     // 0, 1 or G
  T* outputs = nullptr;                 // [B,T,H] (null: not written)
  T* last_output = nullptr;             // [B,H] (null: not written)
  T* h_n = nullptr;                     // [B,H] (null: not written)
  T* c_n = nullptr;                     // [B,H] (null: not written)
  bool training = false;
  bool reuse_packed_weights = false;    // inference only (see above)
  int threads = 0;                      // team size of this call (0: get_num_threads())
};
// h_n and c_n may be the arrays h0 and c0 (read before anything is written): a stateful
// layer's states updated in place.

// The backward of the last training forward: upstream gradients in, gradients out (written).
// B and T are that forward's. Nullable as in BackwardArgs.
template <typename T>
struct KernelBackward {
  const T* d_outputs = nullptr;  // [B,T,H] (null: zeros)
  const T* d_last = nullptr;     // [B,H] (null: zeros)
  const T* d_h_n = nullptr;      // [B,H] (null: zeros)
  const T* d_c_n = nullptr;      // [B,H] (null: zeros)
  T* d_x = nullptr;              // [B,T,D] (null: skipped)
  T* d_kernel = nullptr;         // [D,G*H]
  T* d_recurrent_kernel = nullptr;  // [H,G*H]
  T* d_bias = nullptr;           // [bias_size] (null without use_bias)
  T* d_h0 = nullptr;             // [B,H] (null: skipped)
  T* d_c0 = nullptr;             // [B,H] (null: skipped)
  int threads = 0;               // team size of this call (0: get_num_threads())
};

template <typename T>
class RnnKernel {
 public:
  // Throws std::invalid_argument for sizes < 1.
  RnnKernel(Cell cell, index_t input, index_t hidden, const RnnOptions& options = {});
  ~RnnKernel();
  RnnKernel(const RnnKernel&) = delete;
  RnnKernel& operator=(const RnnKernel&) = delete;

  // The spec of the calls without their batch, steps, dropout groups and thread count.
  const RnnSpec& spec() const;
  const CellInfo& cell() const { return cell_info(spec().cell); }

  void bind_weights(const RnnWeights<T>& weights);
  const RnnWeights<T>& weights() const;
  // Forget the packed copy of the weights (the bound arrays changed). Not concurrently with
  // calls, like bind_weights.
  void drop_packed_weights();

  // Throws std::invalid_argument where reduced precision is not available (see above). Not
  // concurrently with calls, like bind_weights.
  void set_precision(Precision p);
  Precision precision() const;

  // Throws std::logic_error before bind_weights, std::invalid_argument for bad dropout
  // groups, std::bad_alloc when memory runs out.
  void forward(const KernelForward<T>& call);
  // Throws std::logic_error without a preceding training forward.
  void backward(const KernelBackward<T>& call);

  // The last training forward's batch and steps (-1: none yet).
  index_t trained_batch() const;
  index_t trained_steps() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

extern template class RnnKernel<float>;
extern template class RnnKernel<double>;

}  // namespace fastrnn
