// The cell and activation tables, spec validation, buffer sizes, dispatch on the cell, and
// the thread count.
#include <Eigen/Core>
#include <algorithm>
#include <atomic>
#include <cstring>
#include <stdexcept>
#include <string>

#include "cells.hpp"
#include "fused.hpp"
#include "loop.hpp"

namespace fastrnn {

namespace detail {
const CellOps& cell_ops(Cell cell) {
  static const CellOps* const table[] = {
#define FASTRNN_CELL_OPS_ADDRESS(E) &cell_ops_##E,
      FASTRNN_CELLS(FASTRNN_CELL_OPS_ADDRESS)
#undef FASTRNN_CELL_OPS_ADDRESS
  };
  return *table[static_cast<int>(cell)];
}
}  // namespace detail

const CellInfo& cell_info(Cell cell) { return detail::cell_ops(cell).info; }

bool cell_from_name(const char* name, Cell* cell) {
  for (int i = 0; i < kNumCells; ++i)
    if (std::strcmp(cell_info(static_cast<Cell>(i)).name, name) == 0) {
      *cell = static_cast<Cell>(i);
      return true;
    }
  return false;
}

namespace {
constexpr const char* kActivationNames[] = {
#define FASTRNN_ACTIVATION_NAME(E, name, f, df) name,
    FASTRNN_ACTIVATIONS(FASTRNN_ACTIVATION_NAME)
#undef FASTRNN_ACTIVATION_NAME
};
}  // namespace

const char* activation_name(Activation a) { return kActivationNames[static_cast<int>(a)]; }

bool activation_from_name(const char* name, Activation* a) {
  for (int i = 0; i < kNumActivations; ++i)
    if (std::strcmp(kActivationNames[i], name) == 0) {
      *a = static_cast<Activation>(i);
      return true;
    }
  return false;
}

void validate(const RnnSpec& s) {
  auto fail = [](const std::string& what) { throw std::invalid_argument(what); };
  if (s.batch < 0 || s.steps < 0 || s.input < 1 || s.hidden < 1)
    fail("sizes must satisfy B >= 0, T >= 0, D >= 1, H >= 1");
  const int G = num_gates(s.cell);
  for (int groups : {s.input_dropout_groups, s.recurrent_dropout_groups})
    if (groups != 0 && groups != 1 && groups != G)
      fail("dropout groups must be 0, 1 or the number of gates (" + std::to_string(G) + ")");
}

index_t bias_rows(const RnnSpec& s) { return detail::cell_ops(s.cell).bias_rows(s); }

std::size_t bias_size(const RnnSpec& s) {
  return s.use_bias ? bias_rows(s) * num_gates(s.cell) * s.hidden : 0;
}

std::size_t cache_size(const RnnSpec& s) {
  return s.batch * s.steps * detail::cell_ops(s.cell).cache_width(s);
}

std::size_t forward_workspace_size(const RnnSpec& s) {
  return detail::cell_ops(s.cell).forward_ws(s);
}

// The layout of the forward that will read them: fused.hpp's, or loop.hpp's. The float size
// bounds the double one (narrower panels pad less).
std::size_t packed_weights_size(const RnnSpec& s) {
  const index_t G = num_gates(s.cell), GH = G * s.hidden;
  if (detail::cell_ops(s.cell).fused(s)) return detail::fused_packed_size(s, G);
  return detail::packed_size<float>(s.input, GH) + detail::GatePacks<float>::size(G, s.hidden);
}

template <typename T>
void pack_weights(const RnnSpec& s, const T* kernel, const T* recurrent_kernel, T* out) {
  if (detail::cell_ops(s.cell).fused(s))
    return detail::pack_fused_weights<T>(s, num_gates(s.cell), kernel, recurrent_kernel, out);
  const detail::Geo g(s, num_gates(s.cell));
  detail::pack_kernel<T>(g, kernel, nullptr, 0, out);
  detail::GatePacks<T>::pack(recurrent_kernel, g.G, g.H, false,
                             out + detail::packed_size<T>(g.D, g.GH));
}

template void pack_weights<float>(const RnnSpec&, const float*, const float*, float*);
template void pack_weights<double>(const RnnSpec&, const double*, const double*, double*);
std::size_t backward_workspace_size(const RnnSpec& s) {
  return detail::cell_ops(s.cell).backward_ws(s);
}

namespace detail {

template <typename T>
void run_forward(const RnnSpec& spec, const ForwardArgs<T>& args) {
  if (spec.batch == 0) return;
  if (spec.steps == 0) {  // no step: the final states are the initial ones, no output yet
    if (args.h_n) detail::load_rows(args.h0, 0, spec.batch, spec.hidden, args.h_n);
    if (args.c_n) detail::load_rows(args.c0, 0, spec.batch, spec.hidden, args.c_n);
    if (args.last_output) detail::load_rows<T>(nullptr, 0, spec.batch, spec.hidden, args.last_output);
    return;
  }
  cell_ops(spec.cell).forward(spec, args);
}

template <typename T>
void run_backward(const RnnSpec& spec, const BackwardArgs<T>& args) {
  if (spec.batch == 0 || spec.steps == 0) {  // nothing computed: weights get zero gradient
    const std::size_t GH = num_gates(spec.cell) * spec.hidden;
    std::fill(args.d_kernel, args.d_kernel + spec.input * GH, T(0));
    std::fill(args.d_recurrent_kernel, args.d_recurrent_kernel + spec.hidden * GH, T(0));
    if (args.d_bias) std::fill(args.d_bias, args.d_bias + bias_size(spec), T(0));
    if (args.d_h0) detail::load_rows(args.d_h_n, 0, spec.batch, spec.hidden, args.d_h0);
    if (args.d_c0) detail::load_rows(args.d_c_n, 0, spec.batch, spec.hidden, args.d_c0);
    return;
  }
  cell_ops(spec.cell).backward(spec, args);
}

template void run_forward<float>(const RnnSpec&, const ForwardArgs<float>&);
template void run_forward<double>(const RnnSpec&, const ForwardArgs<double>&);
template void run_backward<float>(const RnnSpec&, const BackwardArgs<float>&);
template void run_backward<double>(const RnnSpec&, const BackwardArgs<double>&);

}  // namespace detail

template <typename T>
void forward(const RnnSpec& spec, const ForwardArgs<T>& args) {
  validate(spec);
  detail::run_forward(spec, args);
}

template <typename T>
void backward(const RnnSpec& spec, const BackwardArgs<T>& args) {
  validate(spec);
  detail::run_backward(spec, args);
}

template void forward<float>(const RnnSpec&, const ForwardArgs<float>&);
template void forward<double>(const RnnSpec&, const ForwardArgs<double>&);
template void backward<float>(const RnnSpec&, const BackwardArgs<float>&);
template void backward<double>(const RnnSpec&, const BackwardArgs<double>&);

// 0 = not set: OpenMP's default (OMP_NUM_THREADS or all cores). A process-wide setting, so
// that every Python thread's calls use it.
static std::atomic<int> g_num_threads{0};

void set_num_threads(int n) {
  if (n < 1) throw std::invalid_argument("thread count must be >= 1");
  g_num_threads.store(n);
  Eigen::setNbThreads(n);
}

int get_num_threads() {
#ifdef FASTRNN_OPENMP
  const int n = g_num_threads.load();
  return n > 0 ? n : omp_get_max_threads();
#else
  return 1;
#endif
}

bool openmp_enabled() {
#ifdef FASTRNN_OPENMP
  return true;
#else
  return false;
#endif
}

}  // namespace fastrnn
