// fastrnn conventions: read this first.
//
// Shape letters
//   B batch, T time steps, D input features, H hidden units (`units`), G gates per cell:
//   SimpleRNN G=1; LSTM G=4 in Keras order i, f, c (candidate), o; GRU G=3 in Keras order
//   z (update), r (reset), h (candidate).
//   The model's head (dense.hpp, losses.hpp) uses N rows (all leading axes flattened),
//   K input features and U units; the embedding and its optimizer (embedding.hpp,
//   optimizer.hpp) V rows of width E.
//
// Layout
//   Every array is dense, row-major (C order), with the shapes given in brackets.
//   Public arrays use the Keras layout: x [B,T,D], outputs [B,T,H], states [B,H],
//   kernel [D,G*H], recurrent_kernel [H,G*H], bias [G*H] (a cell may use more bias rows:
//   GRU with reset_after has [2,3H], the input bias row then the recurrent bias row).
//   Per-step saved activations (the cache) are batch-major [B,T,*] and indexed by the INPUT
//   time index, so that weight gradients are single large GEMMs against x after the loop.
//   Outputs are indexed by the PROCESSING step s: with go_backwards, step s reads input time
//   T-1-s and writes outputs[:, s], exactly as Keras returns them.
//
// Ownership
//   rnn.hpp, the low-level layer: the caller owns every buffer (inputs, outputs, the cache
//   written by a training forward and read by the backward, the workspace), sized by
//   cache_size() and *_workspace_size(); kernels allocate nothing. kernel.hpp: an RnnKernel
//   object owns its workspace and training cache, and is called with the per-call arrays only.
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
//   rows; weight gradients are per-thread partials summed in thread order, so results are
//   bitwise reproducible for a given thread count. The fused forward (cpp/src/fused.hpp)
//   splits small batches with large H by unit columns instead, with one barrier per step
//   (batch 1 then uses every core). Inside the recurrent kernels every thread flushes
//   denormals to zero, as TensorFlow's kernels do (cpp/src/denormals.hpp).
//
// Cells
//   A cell is one traits type in its own cpp/src/<cell>.cpp, and one line of FASTRNN_CELLS
//   below; everything else (dispatch, validation, buffer sizes, the Python cell table
//   `_core.cells()` and the layers' gate/state counts) is derived from them. The shared time
//   loops (cpp/src/loop.hpp) are templates on the traits, instantiated in the cell's .cpp.
//   To add a cell variant, say a layer-normalised LSTM:
//     1. cpp/src/ln_lstm.cpp: `struct LnLstmCell : CellDefaults { ... };` providing, as
//        cpp/src/lstm.cpp does (CellDefaults in cpp/src/loop.hpp gives the common values of
//        the ones marked *):
//          name, gates (G), states (1: h, 2: h and c), uses_recurrent_activation*,
//          uses_reset_after*                                     static constexpr members
//          bias_rows(spec)*       bias rows of G*H values (bias [G*H] when 1, [rows,G*H] else)
//          cache_width(spec)      cache elements per (sample, time) row, and the layout of
//                                 the cache in a comment
//          grad_arrays(spec)*     [B,T,G*H] gate-gradient arrays the backward fills (1 or 2)
//          row_scratch(spec)*     extra backward elements per (sample, time) row (0 if none)
//          Forward<T>             derives from FwdContext<T> (sizes, spec, ForwardArgs);
//                                 step(FwdStep&) computes one step of one thread's rows (and
//                                 writes their cache rows)
//          Backward<T>            derives from BwdContext<T> (the same, BackwardArgs and the
//                                 gradient buffers); step(BwdStep&) the step's gate gradients
//                                 and d(previous states); weight_grads(block, dW, dU, db) one
//                                 thread's partial weight gradients after the loop
//          Fused<T>, fused(spec), accumulators   optional: the step as one register block
//                                 after the recurrent product (cpp/src/fused.hpp), used for
//                                 forward calls where fused(spec) holds; lstm.cpp shows it;
//                                 also the step of reduced-precision inference
//                                 (cpp/src/quantized_loop.hpp), which needs it
//        and ending with FASTRNN_DEFINE_CELL(LnLSTM, LnLstmCell) (instantiates the loops;
//        cpp/src/define_cell.hpp).
//     2. One line X(LnLSTM) in FASTRNN_CELLS below (the name Python sees is the traits' name).
//     3. The .cpp in the fastrnn_kernels sources of CMakeLists.txt.
//   The Python layer for it subclasses fastrnn.layers.recurrent._RNN with `cell = "<name>"`.
#pragma once

#include <cstddef>
#include <cstdint>

namespace fastrnn {

using index_t = std::int64_t;

// The registered cells, in the order `_core.cells()` lists them. X(enumerator).
#define FASTRNN_CELLS(X) \
  X(SimpleRNN)           \
  X(LSTM)                \
  X(GRU)

enum class Cell {
#define FASTRNN_CELL_ENUM(E) E,
  FASTRNN_CELLS(FASTRNN_CELL_ENUM)
#undef FASTRNN_CELL_ENUM
};

// What a cell is, as its traits type states it.
struct CellInfo {
  const char* name;                // Keras-style name: "simple_rnn", "lstm", "gru"
  int gates;                       // G
  int states;                      // 1 (h) or 2 (h, c)
  bool uses_recurrent_activation;  // whether RnnSpec::recurrent_activation applies
  bool uses_reset_after;           // whether RnnSpec::reset_after applies
};

constexpr int kNumCells = 0
#define FASTRNN_CELL_COUNT(E) +1
    FASTRNN_CELLS(FASTRNN_CELL_COUNT)
#undef FASTRNN_CELL_COUNT
    ;

const CellInfo& cell_info(Cell cell);
// The cell called `name`; false when there is none.
bool cell_from_name(const char* name, Cell* cell);

// Element-wise activations: X(enumerator, "name", y = f(x), dx = dy * f'(x) written through
// y = f(x)). The formulas are expressions in x, y, dy and the scalar type S, with
// tanh(), sigmoid() (logistic), relu() (max(., 0)), clip01() (clip to [0, 1]),
// inside01(y) (0 < y < 1) and where(condition, a, b); cpp/src/activations.hpp evaluates
// them on Eigen arrays (recurrent kernels) and on scalars (Dense). Names and formulas are
// Keras 3's, plus keras2_hard_sigmoid, Keras 2's hard_sigmoid.
#define FASTRNN_ACTIVATIONS(X)                                                                 \
  X(Tanh, "tanh", tanh(x), dy * (S(1) - y * y))                                               \
  X(Sigmoid, "sigmoid", sigmoid(x), dy * y * (S(1) - y))                                      \
  X(HardSigmoid, "hard_sigmoid", clip01(x * S(1.0 / 6.0) + S(0.5)),                            \
    where(inside01(y), dy * S(1.0 / 6.0), S(0)))                                               \
  X(Keras2HardSigmoid, "keras2_hard_sigmoid", clip01(x * S(0.2) + S(0.5)),                     \
    where(inside01(y), dy * S(0.2), S(0)))                                                     \
  X(Relu, "relu", relu(x), where(y > S(0), dy, S(0)))                                          \
  X(Linear, "linear", x, dy)

enum class Activation {
#define FASTRNN_ACTIVATION_ENUM(E, name, f, df) E,
  FASTRNN_ACTIVATIONS(FASTRNN_ACTIVATION_ENUM)
#undef FASTRNN_ACTIVATION_ENUM
};

constexpr int kNumActivations = 0
#define FASTRNN_ACTIVATION_COUNT(E, name, f, df) +1
    FASTRNN_ACTIVATIONS(FASTRNN_ACTIVATION_COUNT)
#undef FASTRNN_ACTIVATION_COUNT
    ;

const char* activation_name(Activation a);
// The activation called `name`; false when there is none.
bool activation_from_name(const char* name, Activation* a);

// OpenMP thread count used by the kernels (1 when built without OpenMP).
void set_num_threads(int n);
int get_num_threads();
bool openmp_enabled();

// The code the kernels run: "native" (built for the build machine, FASTRNN_NATIVE=ON), or in a
// portable build the variant chosen at the first call, the best the CPU supports: "avx512"
// (x86-64-v4), "avx2" (x86-64-v3) or "baseline" (x86-64); "generic" where FASTRNN_NATIVE=OFF
// has no dispatch (not x86-64 Linux: the compiler's default target). The environment variable
// FASTRNN_ISA may name a lower variant: when it names an unknown one or one the CPU lacks, every
// call of a portable build throws std::runtime_error (any other build: isa() throws for anything
// but its own name).
const char* isa();

}  // namespace fastrnn
