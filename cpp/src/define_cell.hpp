// What a cell's .cpp includes: the time loops (loop.hpp), the fused forward (fused.hpp), and
// FASTRNN_DEFINE_CELL, which ends the file: it instantiates the loops on the cell's traits
// and registers the cell (its CellOps) as Cell::E.
#pragma once

#include <stdexcept>
#include <string>
#include <type_traits>

#include "fused.hpp"
#include "loop.hpp"
#include "quantized_loop.hpp"

namespace fastrnn {
namespace detail {

// Whether the cell has a fused forward (a Fused<T> type; CellT::fused(spec) then says when).
template <typename CellT, typename = void>
struct HasFused : std::false_type {};
template <typename CellT>
struct HasFused<CellT, std::void_t<typename CellT::template Fused<float>>> : std::true_type {};

template <typename CellT>
bool cell_fused(const RnnSpec& s) {
  if constexpr (HasFused<CellT>::value) return CellT::fused(s);
  return false;
}

template <typename CellT, typename T>
void cell_forward(const RnnSpec& s, const ForwardArgs<T>& a) {
  if constexpr (HasFused<CellT>::value) {
    if (CellT::fused(s)) return fused_forward_pass<CellT, T>(s, a);
  }
  forward_pass<CellT, T>(s, a);
}

template <typename CellT>
std::size_t cell_forward_ws(const RnnSpec& s) {
  if constexpr (HasFused<CellT>::value) {
    if (CellT::fused(s)) return fused_ws<CellT::accumulators>(s, CellT::gates);
  }
  return fwd_ws(s);
}

template <typename CellT>
void cell_quantized_forward(const RnnSpec& s, const ForwardArgs<float>& a,
                            const quant::Weights& w, void* ws) {
  if constexpr (HasFused<CellT>::value) {
    if (CellT::fused(s)) return quantized_forward_pass<CellT>(s, a, w, ws);
  }
  throw std::invalid_argument(std::string(CellT::name) +
                              ": no reduced-precision forward with these options");
}

template <typename CellT>
constexpr CellOps make_cell_ops() {
  return CellOps{
      CellInfo{CellT::name, CellT::gates, CellT::states, CellT::uses_recurrent_activation,
               CellT::uses_reset_after},
      &CellT::bias_rows, &CellT::cache_width, &CellT::grad_arrays, &CellT::row_scratch,
      &cell_fused<CellT>, &cell_forward_ws<CellT>, &bwd_ws,
      &cell_forward<CellT, float>, &cell_forward<CellT, double>,
      &backward_pass<CellT, float>, &backward_pass<CellT, double>,
      &cell_quantized_forward<CellT>};
}

}  // namespace detail
}  // namespace fastrnn

#define FASTRNN_DEFINE_CELL(E, Traits)                                                         \
  namespace fastrnn {                                                                           \
  const detail::CellOps detail::cell_ops_##E = detail::make_cell_ops<Traits>();                 \
  }
