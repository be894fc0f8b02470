// pybind11 module fastrnn._core: validates NumPy arrays at the boundary (dtype, rank, shape,
// contiguity, raising TypeError/ValueError that name the argument), allocates outputs, cache
// and workspace, then releases the GIL and calls the C++ kernels.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "fastrnn/common.hpp"
#include "shapes.hpp"

namespace py = pybind11;
using fastrnn::index_t;

namespace {

using fastrnn_bindings::shape_of;
using fastrnn_bindings::shape_str;

// Same NumPy type and native byte order (dtype objects are not always singletons).
bool same_dtype(const py::dtype& a, const py::dtype& b) {
  return a.num() == b.num() && a.attr("isnative").cast<bool>();
}

fastrnn::Activation parse_activation(const std::string& name, const char* arg) {
  using fastrnn::Activation;
  if (name == "tanh") return Activation::Tanh;
  if (name == "sigmoid") return Activation::Sigmoid;
  if (name == "hard_sigmoid") return Activation::HardSigmoid;
  if (name == "relu") return Activation::Relu;
  if (name == "linear") return Activation::Linear;
  throw py::value_error(std::string(arg) +
                        ": expected one of 'tanh', 'sigmoid', 'hard_sigmoid', 'relu', "
                        "'linear', got '" + name + "'");
}

fastrnn::Cell parse_cell(const std::string& name) {
  if (name == "simple_rnn") return fastrnn::Cell::SimpleRNN;
  if (name == "lstm") return fastrnn::Cell::LSTM;
  if (name == "gru") return fastrnn::Cell::GRU;
  throw py::value_error("cell: expected 'simple_rnn', 'lstm' or 'gru', got '" + name + "'");
}

// Checks one array argument and returns it; None is allowed only when `optional`.
struct Checker {
  py::dtype dtype;  // the float type every float array must share

  const py::array* get(const py::object& obj, const char* name, const std::vector<index_t>& shape,
                       bool optional, py::array& holder, bool is_mask = false) const {
    if (obj.is_none()) {
      if (optional) return nullptr;
      throw py::type_error(std::string(name) + ": expected an array of shape " + shape_str(shape) +
                           ", got None");
    }
    if (!py::isinstance<py::array>(obj))
      throw py::type_error(std::string(name) + ": expected a NumPy array, got " +
                           std::string(py::str(py::type::handle_of(obj).attr("__name__"))));
    holder = py::reinterpret_borrow<py::array>(obj);
    if (is_mask) {
      if (!same_dtype(holder.dtype(), py::dtype::of<bool>()) && !same_dtype(holder.dtype(), py::dtype::of<std::uint8_t>()))
        throw py::type_error(std::string(name) + ": expected dtype bool or uint8, got " +
                             std::string(py::str(holder.dtype())));
    } else if (!same_dtype(holder.dtype(), dtype)) {
      throw py::type_error(std::string(name) + ": expected dtype " + std::string(py::str(dtype)) +
                           " (the dtype of x), got " + std::string(py::str(holder.dtype())));
    }
    const auto actual = shape_of(holder);
    if (actual != shape)
      throw py::value_error(std::string(name) + ": expected shape " + shape_str(shape) + ", got " +
                            shape_str(actual));
    if (!(holder.flags() & py::array::c_style))
      throw py::value_error(std::string(name) +
                            ": expected a C-contiguous array (use np.ascontiguousarray)");
    return &holder;
  }
};

template <typename T>
const T* cptr(const py::array* a) { return a ? static_cast<const T*>(a->data()) : nullptr; }

template <typename T>
py::array_t<T> empty(const std::vector<index_t>& shape) { return py::array_t<T>(shape); }

template <typename T>
T* mptr(py::array_t<T>& a) { return a.mutable_data(); }

// Kernel workspace, kept per calling thread and grown on demand, so repeated calls (one per
// training step) reuse warm pages instead of faulting in fresh memory each time. It holds the
// input projection and the gate gradients, [B,T,G*H] arrays that every time step reads or
// writes one row per sample, T*G*H elements apart: with 4 KiB pages each row is its own TLB
// entry, so large buffers are 2 MiB-aligned and advised as huge pages (Linux, THP "madvise").
template <typename T>
T* workspace(std::size_t n) {
  struct Free { void operator()(void* p) const { std::free(p); } };
  thread_local std::unique_ptr<void, Free> buf;
  thread_local std::size_t cap = 0;  // elements
  if (cap < n) {
    constexpr std::size_t kHuge = std::size_t(2) << 20;
    const std::size_t bytes = n * sizeof(T);
    const bool huge = bytes >= kHuge;
    const std::size_t align = huge ? kHuge : 64;
    const std::size_t size = (bytes + align - 1) / align * align;
    buf.reset();
    cap = 0;
    void* p = std::aligned_alloc(align, size);
    if (!p) throw std::bad_alloc();
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (huge) madvise(p, size, MADV_HUGEPAGE);  // advisory: failure only costs speed
#endif
    buf.reset(p);
    cap = size / sizeof(T);
  }
  return static_cast<T*>(buf.get());
}

// A caller-supplied buffer for the cache when it fits (a layer hands back its previous one).
template <typename T>
py::array_t<T> reuse_or_new(const py::object& buf, std::size_t n) {
  if (!buf.is_none() && py::isinstance<py::array_t<T>>(buf)) {
    auto a = py::reinterpret_borrow<py::array_t<T>>(buf);
    if (a.ndim() == 1 && static_cast<std::size_t>(a.size()) == n && a.writeable() &&
        (a.flags() & py::array::c_style))
      return a;
  }
  return py::array_t<T>({static_cast<index_t>(n)});
}

// Everything parsed from the keyword options.
fastrnn::RnnSpec make_spec(const std::string& cell, index_t B, index_t T, index_t D, index_t H,
                           const std::string& activation, const std::string& recurrent_activation,
                           bool use_bias, bool reset_after, bool go_backwards,
                           bool zero_output_for_mask) {
  fastrnn::RnnSpec s;
  s.cell = parse_cell(cell);
  s.batch = B; s.steps = T; s.input = D; s.hidden = H;
  s.activation = parse_activation(activation, "activation");
  s.recurrent_activation = parse_activation(recurrent_activation, "recurrent_activation");
  s.use_bias = use_bias; s.reset_after = reset_after;
  s.go_backwards = go_backwards; s.zero_output_for_mask = zero_output_for_mask;
  s.threads = fastrnn::get_num_threads();  // fixed now: sizes and regions must agree
  return s;
}

std::vector<index_t> bias_shape(const fastrnn::RnnSpec& s) {
  const index_t GH = fastrnn::num_gates(s.cell) * s.hidden;
  if (s.cell == fastrnn::Cell::GRU && s.reset_after) return {2, GH};
  return {GH};
}

// Dropout masks are [B,D] (shared: 1 group) or [G,B,D] (per gate: G groups).
const py::array* dropout_arg(const Checker& ck, const py::object& obj, const char* name, index_t G,
                             index_t B, index_t K, py::array& holder, int& groups) {
  groups = 0;
  if (obj.is_none()) return nullptr;
  if (py::isinstance<py::array>(obj) && py::reinterpret_borrow<py::array>(obj).ndim() == 3) {
    groups = static_cast<int>(G);
    return ck.get(obj, name, {G, B, K}, false, holder);
  }
  groups = 1;
  return ck.get(obj, name, {B, K}, false, holder);
}

struct Arrays {  // holders keep borrowed references alive during the call
  py::array x, k, rk, b, h0, c0, mask, din, drec, cache, dy, dlast, dhn, dcn;
};

// The arguments forward and backward share, checked in one place: x, the weights, the mask
// and the dropout masks. Sets spec.use_bias from the bias' presence and validates spec.
struct Shared {
  const py::array *x, *kernel, *rkernel, *bias, *mask, *din, *drec;
};

Shared check_shared(const Checker& ck, fastrnn::RnnSpec& spec, const py::array& x,
                    const py::object& kernel, const py::object& rkernel, const py::object& bias,
                    const py::object& mask, const py::object& din, const py::object& drec,
                    Arrays& h) {
  const index_t B = spec.batch, Tn = spec.steps, D = spec.input, H = spec.hidden;
  const index_t G = fastrnn::num_gates(spec.cell), GH = G * H;
  Shared s;
  s.x = ck.get(x, "x", {B, Tn, D}, false, h.x);
  s.kernel = ck.get(kernel, "kernel", {D, GH}, false, h.k);
  s.rkernel = ck.get(rkernel, "recurrent_kernel", {H, GH}, false, h.rk);
  s.bias = ck.get(bias, "bias", bias_shape(spec), true, h.b);
  spec.use_bias = s.bias != nullptr;
  s.mask = ck.get(mask, "mask", {B, Tn}, true, h.mask, true);
  s.din = dropout_arg(ck, din, "dropout_mask", G, B, D, h.din, spec.input_dropout_groups);
  s.drec = dropout_arg(ck, drec, "recurrent_dropout_mask", G, B, H, h.drec,
                       spec.recurrent_dropout_groups);
  try { fastrnn::validate(spec); } catch (const std::invalid_argument& e) { throw py::value_error(e.what()); }
  return s;
}

// Points the kernel arguments (ForwardArgs or BackwardArgs) at the shared inputs.
template <typename T, typename Args>
void point_shared(const Shared& s, Args& a) {
  a.x = cptr<T>(s.x); a.kernel = cptr<T>(s.kernel); a.recurrent_kernel = cptr<T>(s.rkernel);
  a.bias = cptr<T>(s.bias);
  a.mask = s.mask ? static_cast<const std::uint8_t*>(s.mask->data()) : nullptr;
  a.input_dropout = cptr<T>(s.din); a.recurrent_dropout = cptr<T>(s.drec);
}

template <typename T>
py::tuple forward_impl(fastrnn::RnnSpec spec, const py::array& x, const py::object& kernel,
                       const py::object& rkernel, const py::object& bias, const py::object& h0,
                       const py::object& c0, const py::object& mask, const py::object& din,
                       const py::object& drec, bool training, const py::object& cache_buffer,
                       bool return_sequences) {
  const Checker ck{x.dtype()};
  Arrays h;
  const Shared in = check_shared(ck, spec, x, kernel, rkernel, bias, mask, din, drec, h);
  const index_t B = spec.batch, Tn = spec.steps, H = spec.hidden;
  const bool lstm = spec.cell == fastrnn::Cell::LSTM;
  auto ah0 = ck.get(h0, "initial_state[0]", {B, H}, true, h.h0);
  auto ac0 = lstm ? ck.get(c0, "initial_state[1]", {B, H}, true, h.c0) : nullptr;

  auto out = return_sequences ? empty<T>({B, Tn, H}) : empty<T>({B, H});
  auto hn = empty<T>({B, H});
  py::object cn_obj = py::none(), cache_obj = py::none();
  py::array_t<T> cn, cache;
  if (lstm) { cn = empty<T>({B, H}); cn_obj = cn; }
  if (training) { cache = reuse_or_new<T>(cache_buffer, fastrnn::cache_size(spec)); cache_obj = cache; }
  const std::size_t ws_size = fastrnn::forward_workspace_size(spec);

  fastrnn::ForwardArgs<T> a;
  point_shared<T>(in, a);
  a.h0 = cptr<T>(ah0); a.c0 = cptr<T>(ac0);
  (return_sequences ? a.outputs : a.last_output) = mptr(out);
  a.h_n = mptr(hn); a.c_n = lstm ? mptr(cn) : nullptr;
  a.cache = training ? mptr(cache) : nullptr;
  {
    py::gil_scoped_release release;
    a.workspace = workspace<T>(ws_size);
    fastrnn::forward<T>(spec, a);
  }
  return py::make_tuple(out, hn, cn_obj, cache_obj);
}

template <typename T>
py::tuple backward_impl(fastrnn::RnnSpec spec, const py::array& x, const py::object& kernel,
                        const py::object& rkernel, const py::object& bias, const py::object& mask,
                        const py::object& din, const py::object& drec, const py::object& cache,
                        const py::object& d_outputs, const py::object& d_last,
                        const py::object& d_h_n, const py::object& d_c_n, bool need_dx,
                        bool need_d_initial) {
  const Checker ck{x.dtype()};
  Arrays h;
  const Shared in = check_shared(ck, spec, x, kernel, rkernel, bias, mask, din, drec, h);
  const index_t B = spec.batch, Tn = spec.steps, D = spec.input, H = spec.hidden;
  const index_t GH = fastrnn::num_gates(spec.cell) * H;
  const bool lstm = spec.cell == fastrnn::Cell::LSTM;
  const py::array* ab = in.bias;
  auto acache = ck.get(cache, "cache", {static_cast<index_t>(fastrnn::cache_size(spec))}, false, h.cache);
  auto ady = ck.get(d_outputs, "d_outputs", {B, Tn, H}, true, h.dy);
  auto adl = ck.get(d_last, "d_last", {B, H}, true, h.dlast);
  auto adh = ck.get(d_h_n, "d_states[0]", {B, H}, true, h.dhn);
  auto adc = lstm ? ck.get(d_c_n, "d_states[1]", {B, H}, true, h.dcn) : nullptr;

  py::object dx_obj = py::none(), db_obj = py::none(), dh0_obj = py::none(), dc0_obj = py::none();
  py::array_t<T> dx, db, dh0, dc0;
  if (need_dx) { dx = empty<T>({B, Tn, D}); dx_obj = dx; }
  auto dk = empty<T>({D, GH});
  auto drk = empty<T>({H, GH});
  if (ab) { db = empty<T>(bias_shape(spec)); db_obj = db; }
  if (need_d_initial) {
    dh0 = empty<T>({B, H}); dh0_obj = dh0;
    if (lstm) { dc0 = empty<T>({B, H}); dc0_obj = dc0; }
  }
  const std::size_t ws_size = fastrnn::backward_workspace_size(spec);

  fastrnn::BackwardArgs<T> a;
  point_shared<T>(in, a);
  a.cache = cptr<T>(acache); a.d_outputs = cptr<T>(ady); a.d_last = cptr<T>(adl);
  a.d_h_n = cptr<T>(adh); a.d_c_n = cptr<T>(adc);
  a.d_x = need_dx ? mptr(dx) : nullptr; a.d_kernel = mptr(dk); a.d_recurrent_kernel = mptr(drk);
  a.d_bias = ab ? mptr(db) : nullptr;
  a.d_h0 = need_d_initial ? mptr(dh0) : nullptr;
  a.d_c0 = (need_d_initial && lstm) ? mptr(dc0) : nullptr;
  {
    py::gil_scoped_release release;
    a.workspace = workspace<T>(ws_size);
    fastrnn::backward<T>(spec, a);
  }
  return py::make_tuple(dx_obj, dk, drk, db_obj, dh0_obj, dc0_obj);
}

py::dtype float_dtype_of(const py::object& x) {
  if (!py::isinstance<py::array>(x))
    throw py::type_error("x: expected a NumPy array, got " +
                         std::string(py::str(py::type::handle_of(x).attr("__name__"))));
  auto a = py::reinterpret_borrow<py::array>(x);
  if (a.ndim() != 3)
    throw py::value_error("x: expected a 3-D array [batch, timesteps, features], got " +
                          std::to_string(a.ndim()) + "-D shape " + shape_str(shape_of(a)));
  if (!same_dtype(a.dtype(), py::dtype::of<float>()) && !same_dtype(a.dtype(), py::dtype::of<double>()))
    throw py::type_error("x: expected dtype float32 or float64, got " + std::string(py::str(a.dtype())));
  return a.dtype();
}

index_t hidden_of(const py::object& rkernel) {
  if (!py::isinstance<py::array>(rkernel))
    throw py::type_error("recurrent_kernel: expected a NumPy array, got " +
                         std::string(py::str(py::type::handle_of(rkernel).attr("__name__"))));
  auto a = py::reinterpret_borrow<py::array>(rkernel);
  if (a.ndim() != 2)
    throw py::value_error("recurrent_kernel: expected a 2-D array [units, gates*units], got " +
                          std::to_string(a.ndim()) + "-D shape " + shape_str(shape_of(a)));
  return a.shape(0);
}

}  // namespace

void bind_embedding(py::module_& m);  // embedding.cpp
void bind_sparse_optim(py::module_& m);  // sparse_optim.cpp
void bind_dense(py::module_& m);  // dense.cpp

PYBIND11_MODULE(_core, m) {
  m.doc() = "fastrnn C++ kernels (see cpp/include/fastrnn/common.hpp for conventions)";

  m.def("rnn_forward",
        [](const std::string& cell, const py::object& x, const py::object& kernel,
           const py::object& rkernel, const py::object& bias, const py::object& h0,
           const py::object& c0, const py::object& mask, const py::object& din,
           const py::object& drec, const std::string& activation,
           const std::string& recurrent_activation, bool reset_after, bool go_backwards,
           bool zero_output_for_mask, bool training, const py::object& cache_buffer,
           bool return_sequences) {
          const py::dtype dt = float_dtype_of(x);
          auto xa = py::reinterpret_borrow<py::array>(x);
          const index_t H = hidden_of(rkernel);
          if (H < 1) throw py::value_error("recurrent_kernel: units must be >= 1, got 0");
          auto spec = make_spec(cell, xa.shape(0), xa.shape(1), xa.shape(2), H, activation,
                                recurrent_activation, !bias.is_none(), reset_after, go_backwards,
                                zero_output_for_mask);
          if (spec.input < 1) throw py::value_error("x: the features dimension must be >= 1, got 0");
          if (same_dtype(dt, py::dtype::of<float>()))
            return forward_impl<float>(spec, xa, kernel, rkernel, bias, h0, c0, mask, din, drec,
                                       training, cache_buffer, return_sequences);
          return forward_impl<double>(spec, xa, kernel, rkernel, bias, h0, c0, mask, din, drec,
                                      training, cache_buffer, return_sequences);
        },
        py::arg("cell"), py::arg("x"), py::arg("kernel"), py::arg("recurrent_kernel"),
        py::arg("bias"), py::arg("h0"), py::arg("c0"), py::arg("mask"), py::arg("dropout_mask"),
        py::arg("recurrent_dropout_mask"), py::arg("activation"),
        py::arg("recurrent_activation"), py::arg("reset_after"), py::arg("go_backwards"),
        py::arg("zero_output_for_mask"), py::arg("training"), py::arg("cache_buffer") = py::none(),
        py::arg("return_sequences") = true,
        "Forward pass. `cache_buffer`: an earlier cache array to overwrite when its size fits. "
        "Returns (outputs [B,T,H] or, without return_sequences, the last output [B,H], "
        "h_n [B,H], c_n [B,H] or None, cache or None).");

  m.def("rnn_backward",
        [](const std::string& cell, const py::object& x, const py::object& kernel,
           const py::object& rkernel, const py::object& bias, const py::object& mask,
           const py::object& din, const py::object& drec, const py::object& cache,
           const py::object& d_outputs, const py::object& d_last, const py::object& d_h_n,
           const py::object& d_c_n, const std::string& activation,
           const std::string& recurrent_activation, bool reset_after, bool go_backwards,
           bool zero_output_for_mask, bool need_dx, bool need_d_initial) {
          const py::dtype dt = float_dtype_of(x);
          auto xa = py::reinterpret_borrow<py::array>(x);
          const index_t H = hidden_of(rkernel);
          auto spec = make_spec(cell, xa.shape(0), xa.shape(1), xa.shape(2), H, activation,
                                recurrent_activation, !bias.is_none(), reset_after, go_backwards,
                                zero_output_for_mask);
          if (same_dtype(dt, py::dtype::of<float>()))
            return backward_impl<float>(spec, xa, kernel, rkernel, bias, mask, din, drec, cache,
                                        d_outputs, d_last, d_h_n, d_c_n, need_dx, need_d_initial);
          return backward_impl<double>(spec, xa, kernel, rkernel, bias, mask, din, drec, cache,
                                       d_outputs, d_last, d_h_n, d_c_n, need_dx, need_d_initial);
        },
        py::arg("cell"), py::arg("x"), py::arg("kernel"), py::arg("recurrent_kernel"),
        py::arg("bias"), py::arg("mask"), py::arg("dropout_mask"),
        py::arg("recurrent_dropout_mask"), py::arg("cache"), py::arg("d_outputs"),
        py::arg("d_last"), py::arg("d_h_n"), py::arg("d_c_n"), py::arg("activation"),
        py::arg("recurrent_activation"), py::arg("reset_after"), py::arg("go_backwards"),
        py::arg("zero_output_for_mask"), py::arg("need_dx"), py::arg("need_d_initial"),
        "Backward pass. Returns (d_x or None, d_kernel, d_recurrent_kernel, d_bias or None, "
        "d_h0 or None, d_c0 or None).");

  bind_embedding(m);
  bind_sparse_optim(m);
  bind_dense(m);
  m.def("set_num_threads", &fastrnn::set_num_threads, py::arg("n"));
  m.def("get_num_threads", &fastrnn::get_num_threads);
  m.def("openmp_enabled", &fastrnn::openmp_enabled);
}
