// The low-level recurrent kernels: one whole sequence forward, and its backward (BPTT), on
// caller-owned buffers (conventions in common.hpp). kernel.hpp builds on these.
#pragma once

#include <cstddef>
#include <cstdint>

#include "fastrnn/common.hpp"

namespace fastrnn {

// A layer's options (Keras' names).
struct RnnOptions {
  Activation activation = Activation::Tanh;
  Activation recurrent_activation = Activation::Sigmoid;  // cells that use it only
  bool use_bias = true;
  bool reset_after = true;  // cells that use it only (GRU)
  bool go_backwards = false;
  bool zero_output_for_mask = false;
};

// Everything that fixes the computation except the data.
struct RnnSpec : RnnOptions {
  Cell cell = Cell::LSTM;
  index_t batch = 0;    // B
  index_t steps = 0;    // T
  index_t input = 0;    // D
  index_t hidden = 0;   // H
  int input_dropout_groups = 0;      // 0, 1 or G
  int recurrent_dropout_groups = 0;  // 0, 1 or G
  // Team size of the parallel regions; 0 = get_num_threads() at the time of the call. Fix it
  // before querying workspace sizes when another thread may change the thread count.
  int threads = 0;
};

// Throws std::invalid_argument when the spec is inconsistent.
void validate(const RnnSpec& spec);

inline int num_gates(Cell cell) { return cell_info(cell).gates; }

// Rows of G*H values in the bias (1: bias [G*H]; 2: [2,G*H], GRU with reset_after).
index_t bias_rows(const RnnSpec& spec);

// Elements (of the kernel's scalar type) of each caller-owned buffer.
std::size_t bias_size(const RnnSpec& spec);  // 0 without use_bias
std::size_t cache_size(const RnnSpec& spec);
std::size_t forward_workspace_size(const RnnSpec& spec);
std::size_t backward_workspace_size(const RnnSpec& spec);

// Forward pass. Nullable pointers are marked (null).
template <typename T>
struct ForwardArgs {
  const T* x = nullptr;                 // [B,T,D]
  const T* kernel = nullptr;            // [D,G*H]
  const T* recurrent_kernel = nullptr;  // [H,G*H]
  const T* bias = nullptr;              // [bias_size] (null when !use_bias)
  const T* h0 = nullptr;                // [B,H] (null: zeros)
  const T* c0 = nullptr;                // [B,H] second state (null: zeros)
  const std::uint8_t* mask = nullptr;   // [B,T] (null: all valid)
  const T* input_dropout = nullptr;     // [groups,B,D] (null when groups == 0)
  const T* recurrent_dropout = nullptr; // [groups,B,H] (null when groups == 0)
  T* outputs = nullptr;                 // [B,T,H] processing order (null: not written)
  T* last_output = nullptr;             // [B,H] outputs[:, T-1] alone (null: not written)
  T* h_n = nullptr;                     // [B,H] final h (null: not written)
  T* c_n = nullptr;                     // [B,H] final second state (null: not written)
  T* cache = nullptr;                   // [cache_size] for backward (null: inference)
  T* workspace = nullptr;               // [forward_workspace_size]
  // kernel and recurrent_kernel as pack_weights wrote them (null: packed by this call). The
  // kernel's part is not used with input dropout (the masks are packed with it).
  const T* packed_weights = nullptr;    // [packed_weights_size]
};

// Backward pass (BPTT). Reads the cache written by a forward with the same spec and inputs.
template <typename T>
struct BackwardArgs {
  const T* x = nullptr;                 // [B,T,D]
  const T* kernel = nullptr;            // [D,G*H]
  const T* recurrent_kernel = nullptr;  // [H,G*H]
  const T* bias = nullptr;              // as forward
  const std::uint8_t* mask = nullptr;   // [B,T] (null)
  const T* input_dropout = nullptr;     // as forward
  const T* recurrent_dropout = nullptr; // as forward
  const T* cache = nullptr;             // [cache_size]
  const T* d_outputs = nullptr;         // [B,T,H] grad of outputs (null: zeros)
  const T* d_last = nullptr;            // [B,H] grad added to outputs[:, T-1] (null: zeros)
  const T* d_h_n = nullptr;             // [B,H] grad of final h (null: zeros)
  const T* d_c_n = nullptr;             // [B,H] grad of the final second state (null: zeros)
  T* d_x = nullptr;                     // [B,T,D] written (null: skipped)
  T* d_kernel = nullptr;                // [D,G*H] written
  T* d_recurrent_kernel = nullptr;      // [H,G*H] written
  T* d_bias = nullptr;                  // [bias_size] written (null when !use_bias)
  T* d_h0 = nullptr;                    // [B,H] written (null: skipped)
  T* d_c0 = nullptr;                    // [B,H] written, second state (null: skipped)
  T* workspace = nullptr;               // [backward_workspace_size]
};

// Dispatch on spec.cell. Instantiated for float and double.
// The weights in the layout the forward reads (panels of both kernels). A forward call
// packs them first unless it is given them packed: calls that run a few steps each (streaming
// inference) spend most of their time packing. Depends on the cell, D, H, reset_after and
// recurrent dropout (which forward runs): pack with the spec of the calls that read them.
std::size_t packed_weights_size(const RnnSpec& spec);
template <typename T>
void pack_weights(const RnnSpec& spec, const T* kernel, const T* recurrent_kernel, T* out);

template <typename T> void forward(const RnnSpec& spec, const ForwardArgs<T>& args);
template <typename T> void backward(const RnnSpec& spec, const BackwardArgs<T>& args);

}  // namespace fastrnn
