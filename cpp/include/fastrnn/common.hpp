// fastrnn conventions: read this first.
//
// Shape letters
//   B batch, T time steps, D input features, H hidden units (`units`), G gates per cell:
//   SimpleRNN G=1; LSTM G=4 in Keras order i, f, c (candidate), o; GRU G=3 in Keras order
//   z (update), r (reset), h (candidate).
//   The model's head (dense.hpp, losses.hpp) uses N rows (all leading axes flattened),
//   K input features and U units; the embedding and its optimizer (embedding.hpp,
//   sparse_optim.hpp) V rows of width E.
//
// Layout
//   Every array is dense, row-major (C order), with the shapes given in brackets.
//   Public arrays use the Keras layout: x [B,T,D], outputs [B,T,H], states [B,H],
//   kernel [D,G*H], recurrent_kernel [H,G*H], bias [G*H] (GRU reset_after: [2,3H], input bias
//   row then recurrent bias row, i.e. [6H] flat).
//   Per-step saved activations (the cache) are batch-major [B,T,*] and indexed by the INPUT
//   time index, so that weight gradients are single large GEMMs against x after the loop.
//   Outputs are indexed by the PROCESSING step s: with go_backwards, step s reads input time
//   T-1-s and writes outputs[:, s], exactly as Keras returns them.
//
// Ownership
//   The caller owns every buffer: inputs, outputs, the cache written by a training forward
//   and read by the backward, and the workspace. Sizes come from cache_size() and
//   *_workspace_size(). Kernels allocate nothing (inside or outside the time loop).
//
// Gradients
//   Backward kernels WRITE (overwrite) every gradient they produce; nothing is accumulated
//   into caller memory. Gradient pointers that are null are not computed where that saves
//   work (dx, d_h0, d_c0).
//
// Masks
//   mask [B,T] (uint8, 1 = valid step). At a masked step the states are carried unchanged;
//   the output is the previous output (zeros before the first valid step), or zeros when
//   zero_output_for_mask is set. Gradients follow the same routing.
//
// Dropout
//   Keras draws dropout masks once per batch and keeps them for all steps. input_dropout is
//   [groups,B,D] and recurrent_dropout [groups,B,H], already scaled (values 0 or 1/(1-rate)),
//   with groups = 1 (one mask shared by all gates, Keras implementation 2) or groups = G
//   (one mask per gate, what Keras uses whenever recurrent_dropout > 0). groups = 0: none.
//
// Threads
//   One OpenMP parallel region spans the whole time loop: each thread owns a contiguous block
//   of batch rows for all steps, so steps need no barrier. The GEMMs outside the loop (input
//   projection before it; dx, dW, dU after it) run in the same region on each thread's own
//   rows; weight gradients are per-thread partials summed in thread order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace fastrnn {

using index_t = std::int64_t;

enum class Cell { SimpleRNN, LSTM, GRU };

// Activations with Keras 3 definitions. hard_sigmoid(x) = clip(x/6 + 1/2, 0, 1).
enum class Activation { Tanh, Sigmoid, HardSigmoid, Relu, Linear };

// Everything that fixes the computation except the data.
struct RnnSpec {
  Cell cell = Cell::LSTM;
  index_t batch = 0;    // B
  index_t steps = 0;    // T
  index_t input = 0;    // D
  index_t hidden = 0;   // H
  Activation activation = Activation::Tanh;
  Activation recurrent_activation = Activation::Sigmoid;  // LSTM, GRU only
  bool use_bias = true;
  bool reset_after = true;  // GRU only
  bool go_backwards = false;
  bool zero_output_for_mask = false;
  int input_dropout_groups = 0;      // 0, 1 or G
  int recurrent_dropout_groups = 0;  // 0, 1 or G
  // Team size of the parallel regions; 0 = get_num_threads() at the time of the call. Fix it
  // before querying workspace sizes when another thread may change the thread count.
  int threads = 0;
};

inline int num_gates(Cell cell) {
  switch (cell) {
    case Cell::SimpleRNN: return 1;
    case Cell::LSTM: return 4;
    case Cell::GRU: return 3;
  }
  return 0;
}

// Throws std::invalid_argument when the spec is inconsistent.
void validate(const RnnSpec& spec);

// Elements (of the kernel's scalar type) of each caller-owned buffer.
std::size_t bias_size(const RnnSpec& spec);
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
  const T* c0 = nullptr;                // [B,H] LSTM only (null: zeros)
  const std::uint8_t* mask = nullptr;   // [B,T] (null: all valid)
  const T* input_dropout = nullptr;     // [groups,B,D] (null when groups == 0)
  const T* recurrent_dropout = nullptr; // [groups,B,H] (null when groups == 0)
  T* outputs = nullptr;                 // [B,T,H] processing order (null: not written)
  T* last_output = nullptr;             // [B,H] outputs[:, T-1] alone (null: not written)
  T* h_n = nullptr;                     // [B,H] final h (null: not written)
  T* c_n = nullptr;                     // [B,H] final c, LSTM (null: not written)
  T* cache = nullptr;                   // [cache_size] for backward (null: inference)
  T* workspace = nullptr;               // [forward_workspace_size]
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
  const T* d_c_n = nullptr;             // [B,H] grad of final c, LSTM (null: zeros)
  T* d_x = nullptr;                     // [B,T,D] written (null: skipped)
  T* d_kernel = nullptr;                // [D,G*H] written
  T* d_recurrent_kernel = nullptr;      // [H,G*H] written
  T* d_bias = nullptr;                  // [bias_size] written (null when !use_bias)
  T* d_h0 = nullptr;                    // [B,H] written (null: skipped)
  T* d_c0 = nullptr;                    // [B,H] written, LSTM (null: skipped)
  T* workspace = nullptr;               // [backward_workspace_size]
};

// Dispatch on spec.cell. Instantiated for float and double.
template <typename T> void forward(const RnnSpec& spec, const ForwardArgs<T>& args);
template <typename T> void backward(const RnnSpec& spec, const BackwardArgs<T>& args);

// OpenMP thread count used by the kernels (1 when built without OpenMP).
void set_num_threads(int n);
int get_num_threads();
bool openmp_enabled();

}  // namespace fastrnn
