// The cell registry: one CellOps per entry of FASTRNN_CELLS (common.hpp), defined by
// FASTRNN_DEFINE_CELL at the end of the cell's .cpp (loop.hpp) from its traits type. Every
// switch on the cell (sizes, dispatch, the Python cell table) goes through cell_ops().
#pragma once

#include <cstddef>

#include "fastrnn/rnn.hpp"

namespace fastrnn {
namespace detail {

namespace quant { struct Weights; }

struct CellOps {
  CellInfo info;
  index_t (*bias_rows)(const RnnSpec&);
  std::size_t (*cache_width)(const RnnSpec&);
  int (*grad_arrays)(const RnnSpec&);
  std::size_t (*row_scratch)(const RnnSpec&);
  bool (*fused)(const RnnSpec&);                // runs fused.hpp's forward (and packing)
  std::size_t (*forward_ws)(const RnnSpec&);   // elements of the forward / backward workspace
  std::size_t (*backward_ws)(const RnnSpec&);
  void (*forward_f)(const RnnSpec&, const ForwardArgs<float>&);
  void (*forward_d)(const RnnSpec&, const ForwardArgs<double>&);
  void (*backward_f)(const RnnSpec&, const BackwardArgs<float>&);
  void (*backward_d)(const RnnSpec&, const BackwardArgs<double>&);
  // Reduced-precision inference (quantized_loop.hpp), its workspace in bytes.
  void (*quantized_forward)(const RnnSpec&, const ForwardArgs<float>&, const quant::Weights&,
                            void* workspace);

  void forward(const RnnSpec& s, const ForwardArgs<float>& a) const { forward_f(s, a); }
  void forward(const RnnSpec& s, const ForwardArgs<double>& a) const { forward_d(s, a); }
  void backward(const RnnSpec& s, const BackwardArgs<float>& a) const { backward_f(s, a); }
  void backward(const RnnSpec& s, const BackwardArgs<double>& a) const { backward_d(s, a); }
};

#define FASTRNN_DECLARE_CELL_OPS(E) extern const CellOps cell_ops_##E;
FASTRNN_CELLS(FASTRNN_DECLARE_CELL_OPS)
#undef FASTRNN_DECLARE_CELL_OPS

const CellOps& cell_ops(Cell cell);

// forward()/backward() of rnn.hpp for a spec already validated.
template <typename T> void run_forward(const RnnSpec& spec, const ForwardArgs<T>& args);
template <typename T> void run_backward(const RnnSpec& spec, const BackwardArgs<T>& args);

}  // namespace detail
}  // namespace fastrnn
