// fastrnn._core.RnnKernel: a recurrent layer's kernel object (fastrnn/kernel.hpp) for NumPy.
// Built once per layer (cell, sizes and options checked there); bind_weights checks the weight
// arrays once and keeps references to them (the optimizer updates them in place); forward and
// backward check only their per-call arrays, allocate the results and release the GIL while
// the kernels run. The backward of a training forward takes upstream gradients only: the
// object keeps (references to) what that forward used.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <atomic>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "arrays.hpp"
#include "fastrnn/kernel.hpp"

namespace py = pybind11;
using fastrnn::index_t;

namespace {

using namespace fastrnn_bindings;

std::string quoted_list(const std::vector<std::string>& names) {
  std::string out;
  for (std::size_t i = 0; i < names.size(); ++i) out += (i ? ", '" : "'") + names[i] + "'";
  return out;
}

fastrnn::Cell parse_cell(const std::string& name) {
  fastrnn::Cell c;
  if (fastrnn::cell_from_name(name.c_str(), &c)) return c;
  std::vector<std::string> names;
  for (int i = 0; i < fastrnn::kNumCells; ++i)
    names.push_back(fastrnn::cell_info(static_cast<fastrnn::Cell>(i)).name);
  throw py::value_error("cell: expected one of " + quoted_list(names) + ", got '" + name + "'");
}

fastrnn::Activation parse_activation(const std::string& name, const char* arg) {
  fastrnn::Activation a;
  if (fastrnn::activation_from_name(name.c_str(), &a)) return a;
  std::vector<std::string> names;
  for (int i = 0; i < fastrnn::kNumActivations; ++i)
    names.push_back(fastrnn::activation_name(static_cast<fastrnn::Activation>(i)));
  throw py::value_error(std::string(arg) + ": expected one of " + quoted_list(names) +
                        ", got '" + name + "'");
}

// A list of `n` state arrays (an array alone counts as a list of one; entries may be None).
std::vector<py::object> state_list(const py::object& obj, const char* name, int n,
                                   const char* cell) {
  std::vector<py::object> out(n, py::none());
  if (obj.is_none()) return out;
  std::vector<py::object> items;
  if (py::isinstance<py::array>(obj)) items.push_back(obj);
  else if (py::isinstance<py::list>(obj) || py::isinstance<py::tuple>(obj))
    for (auto item : obj) items.push_back(py::reinterpret_borrow<py::object>(item));
  else
    throw py::type_error(std::string(name) + ": expected a list of arrays, got " + type_name(obj));
  if (static_cast<int>(items.size()) != n)
    throw py::value_error(std::string(name) + ": expected a list of " + std::to_string(n) +
                          " array(s) for " + cell + ", got " + std::to_string(items.size()));
  return items;
}

const char* const kPrecisionNames[] = {"float32", "bfloat16", "int8"};

fastrnn::Precision parse_precision(const std::string& name) {
  for (int i = 0; i < 3; ++i)
    if (name == kPrecisionNames[i]) return static_cast<fastrnn::Precision>(i);
  throw py::value_error("precision: expected one of 'float32', 'bfloat16', 'int8', got '" +
                        name + "'");
}

class Kernel {
 public:
  Kernel(const std::string& cell, index_t input_dim, index_t units, const std::string& activation,
         const std::string& recurrent_activation, bool use_bias, bool reset_after,
         bool go_backwards, bool zero_output_for_mask, const py::object& dtype) {
    const fastrnn::Cell c = parse_cell(cell);
    fastrnn::RnnOptions o;
    o.activation = parse_activation(activation, "activation");
    o.recurrent_activation = parse_activation(recurrent_activation, "recurrent_activation");
    o.use_bias = use_bias;
    o.reset_after = reset_after;
    o.go_backwards = go_backwards;
    o.zero_output_for_mask = zero_output_for_mask;
    if (input_dim < 1)
      throw py::value_error("input_dim: expected an integer >= 1, got " +
                            std::to_string(input_dim));
    if (units < 1)
      throw py::value_error("units: expected an integer >= 1, got " + std::to_string(units));
    dtype_ = py::dtype::from_args(dtype);
    if (same_dtype(dtype_, py::dtype::of<float>()))
      f32_ = std::make_unique<fastrnn::RnnKernel<float>>(c, input_dim, units, o);
    else if (same_dtype(dtype_, py::dtype::of<double>()))
      f64_ = std::make_unique<fastrnn::RnnKernel<double>>(c, input_dim, units, o);
    else
      throw py::type_error("dtype: expected float32 or float64, got " +
                           std::string(py::str(dtype_)));
  }

  const fastrnn::RnnSpec& spec() const { return f32_ ? f32_->spec() : f64_->spec(); }
  const fastrnn::CellInfo& info() const { return fastrnn::cell_info(spec().cell); }
  py::dtype dtype() const { return dtype_; }
  index_t gh() const { return info().gates * spec().hidden; }
  Shape kernel_shape() const { return {spec().input, gh()}; }
  Shape recurrent_kernel_shape() const { return {spec().hidden, gh()}; }
  Shape bias_shape() const {
    const index_t rows = fastrnn::bias_rows(spec());
    return rows == 1 ? Shape{gh()} : Shape{rows, gh()};
  }
  py::object bias_shape_or_none() const {
    return spec().use_bias ? py::object(py::cast(bias_shape())) : py::object(py::none());
  }

  void bind_weights(const py::object& kernel, const py::object& recurrent_kernel,
                    const py::object& bias) {
    if (in_flight_.load() > 0)
      throw std::runtime_error("bind_weights: this kernel is running in another thread");
    const Expect k{dtype_, kernel_shape(), "the dtype of x"};
    const Expect rk{dtype_, recurrent_kernel_shape(), "the dtype of x"};
    const Expect b{dtype_, bias_shape(), "the dtype of x"};
    py::array ka = check_optional(kernel, "kernel", k, false);
    py::array rka = check_optional(recurrent_kernel, "recurrent_kernel", rk, false);
    py::array ba = no_array();
    if (spec().use_bias) ba = check_optional(bias, "bias", b, false);
    else if (!bias.is_none())
      throw py::value_error("bias: expected None (the kernel was built with use_bias=False), "
                            "got " + type_name(bias));
    if (f32_) f32_->bind_weights({data_of<float>(ka), data_of<float>(rka), data_of<float>(ba)});
    else f64_->bind_weights({data_of<double>(ka), data_of<double>(rka), data_of<double>(ba)});
    weights_ = py::make_tuple(ka, rka, ba ? py::object(ba) : py::object(py::none()));
  }

  py::tuple forward(const py::object& x, const py::object& initial_state, const py::object& mask,
                    const py::object& dropout_mask, const py::object& recurrent_dropout_mask,
                    bool training, bool return_sequences, int threads) {
    check_threads(threads);
    return f32_ ? forward_t(*f32_, x, initial_state, mask, dropout_mask, recurrent_dropout_mask,
                            training, return_sequences, threads)
                : forward_t(*f64_, x, initial_state, mask, dropout_mask, recurrent_dropout_mask,
                            training, return_sequences, threads);
  }

  py::object stream(const py::object& x, const py::object& states, bool return_sequences,
                    int threads) {
    check_threads(threads);
    return f32_ ? stream_t(*f32_, x, states, return_sequences, threads)
                : stream_t(*f64_, x, states, return_sequences, threads);
  }

  void set_precision(const std::string& name) {
    const fastrnn::Precision p = parse_precision(name);
    if (in_flight_.load() > 0)
      throw std::runtime_error("set_precision: this kernel is running in another thread");
    if (f32_) f32_->set_precision(p);
    else f64_->set_precision(p);
  }
  std::string precision() const {
    return kPrecisionNames[static_cast<int>(f32_ ? f32_->precision() : f64_->precision())];
  }

  void drop_packed_weights() {
    if (in_flight_.load() > 0)
      throw std::runtime_error("drop_packed_weights: this kernel is running in another thread");
    if (f32_) f32_->drop_packed_weights();
    else f64_->drop_packed_weights();
  }

  py::tuple backward(const py::object& d_outputs, const py::object& d_last,
                     const py::object& d_states, bool need_dx, bool need_d_initial_state,
                     int threads) {
    check_threads(threads);
    return f32_ ? backward_t(*f32_, d_outputs, d_last, d_states, need_dx, need_d_initial_state,
                             threads)
                : backward_t(*f64_, d_outputs, d_last, d_states, need_dx, need_d_initial_state,
                             threads);
  }

  // The dropout masks of the training forward the next backward differentiates.
  py::object dropout_mask() const { return trained_.empty() ? py::none() : trained_[1]; }
  py::object recurrent_dropout_mask() const { return trained_.empty() ? py::none() : trained_[2]; }

 private:
  // Counts the calls running with the GIL released (bind_weights must not meet one).
  struct InFlight {
    std::atomic<int>& n;
    explicit InFlight(std::atomic<int>& c) : n(c) { ++n; }
    ~InFlight() { --n; }
  };

  static void check_threads(int threads) {
    if (threads < 0)
      throw py::value_error("threads: expected an int >= 0 (0: fastrnn.get_num_threads()), got " +
                            std::to_string(threads));
  }

  // A dropout mask: [B,K] (one group) or [G,B,K] (one per gate).
  py::array dropout_arg(const py::object& obj, const char* name, index_t B, index_t K,
                        int& groups) const {
    groups = 0;
    if (obj.is_none()) return no_array();
    const index_t G = info().gates;
    const bool per_gate =
        py::isinstance<py::array>(obj) && py::reinterpret_borrow<py::array>(obj).ndim() == 3;
    groups = per_gate ? static_cast<int>(G) : 1;
    return check_array(obj, name,
                       {dtype_, per_gate ? Shape{G, B, K} : Shape{B, K}, "the dtype of x"});
  }

  template <typename T>
  py::tuple forward_t(fastrnn::RnnKernel<T>& k, const py::object& x_obj,
                      const py::object& initial_state, const py::object& mask_obj,
                      const py::object& din_obj, const py::object& drec_obj, bool training,
                      bool return_sequences, int threads) {
    if (weights_.is_none())
      throw std::runtime_error("forward: no weights bound (call bind_weights first)");
    const fastrnn::RnnSpec& s = k.spec();
    const fastrnn::CellInfo& ci = info();
    const py::array x = check_array(x_obj, "x", {dtype_, {-1, -1, s.input}, "the kernel's dtype"});
    const index_t B = x.shape(0), Tn = x.shape(1), H = s.hidden;
    const std::vector<py::object> init =
        state_list(initial_state, "initial_state", ci.states, ci.name);
    std::vector<py::array> h0(ci.states, no_array());
    for (int i = 0; i < ci.states; ++i)
      h0[i] = check_optional(init[i], "initial_state[" + std::to_string(i) + "]",
                             {dtype_, {B, H}, "the dtype of x"});
    const py::array mask = mask_obj.is_none() ? no_array() : check_mask(mask_obj, "mask", {B, Tn});
    fastrnn::KernelForward<T> c;
    const py::array din = dropout_arg(din_obj, "dropout_mask", B, s.input, c.input_dropout_groups);
    const py::array drec = dropout_arg(drec_obj, "recurrent_dropout_mask", B, H,
                                       c.recurrent_dropout_groups);

    py::array_t<T> out = return_sequences ? py::array_t<T>({B, Tn, H}) : py::array_t<T>({B, H});
    std::vector<py::array_t<T>> states;
    for (int i = 0; i < ci.states; ++i) states.emplace_back(Shape{B, H});
    c.batch = B;
    c.steps = Tn;
    c.x = data_of<T>(x);
    c.h0 = data_of<T>(h0[0]);
    c.c0 = ci.states > 1 ? data_of<T>(h0[1]) : nullptr;
    c.mask = mask ? static_cast<const std::uint8_t*>(mask.data()) : nullptr;
    c.input_dropout = data_of<T>(din);
    c.recurrent_dropout = data_of<T>(drec);
    (return_sequences ? c.outputs : c.last_output) = out.mutable_data();
    c.h_n = states[0].mutable_data();
    c.c_n = ci.states > 1 ? states[1].mutable_data() : nullptr;
    c.training = training;
    c.threads = threads;
    const py::object weights = weights_;  // alive for the call, whatever happens meanwhile
    {
      InFlight busy(in_flight_);
      py::gil_scoped_release release;
      k.forward(c);
    }
    if (training)  // what the backward reads: x, the masks and the weights of this call
      trained_ = {x, din ? py::object(din) : py::none(), drec ? py::object(drec) : py::none(),
                  mask ? py::object(mask) : py::none(), weights};
    py::list state_list_out;
    for (auto& st : states) state_list_out.append(st);
    return py::make_tuple(out, state_list_out);
  }

  // An inference forward that starts from `states` and overwrites them with the final states,
  // on the kernel's packed copy of the weights.
  template <typename T>
  py::object stream_t(fastrnn::RnnKernel<T>& k, const py::object& x_obj,
                      const py::object& states_obj, bool return_sequences, int threads) {
    if (weights_.is_none())
      throw std::runtime_error("stream: no weights bound (call bind_weights first)");
    const fastrnn::RnnSpec& s = k.spec();
    const fastrnn::CellInfo& ci = info();
    const py::array x = check_array(x_obj, "x", {dtype_, {-1, -1, s.input}, "the kernel's dtype"});
    const index_t B = x.shape(0), Tn = x.shape(1), H = s.hidden;
    if (states_obj.is_none())
      throw py::type_error("states: expected a list of " + std::to_string(ci.states) +
                           " array(s), got None");
    const std::vector<py::object> items = state_list(states_obj, "states", ci.states, ci.name);
    std::vector<py::array> st;
    for (int i = 0; i < ci.states; ++i)
      st.push_back(check_array(items[i], "states[" + std::to_string(i) + "]",
                               {dtype_, {B, H}, "the dtype of x", Access::Update}));
    if (ci.states > 1 && st[0].data() == st[1].data())
      throw py::value_error("states: expected distinct arrays, got the same array twice");
    py::array_t<T> out = return_sequences ? py::array_t<T>({B, Tn, H}) : py::array_t<T>({B, H});
    if (Tn == 0) {  // no step: the states stay, no output yet
      std::fill(out.mutable_data(), out.mutable_data() + out.size(), T(0));
      return out;
    }
    fastrnn::KernelForward<T> c;
    c.batch = B;
    c.steps = Tn;
    c.x = data_of<T>(x);
    c.h0 = data_of<T>(st[0]);
    c.h_n = mutable_data_of<T>(st[0]);
    if (ci.states > 1) {
      c.c0 = data_of<T>(st[1]);
      c.c_n = mutable_data_of<T>(st[1]);
    }
    (return_sequences ? c.outputs : c.last_output) = out.mutable_data();
    c.reuse_packed_weights = true;
    c.threads = threads;
    const py::object weights = weights_;  // alive for the call
    {
      InFlight busy(in_flight_);
      py::gil_scoped_release release;
      k.forward(c);
    }
    return out;
  }

  template <typename T>
  py::tuple backward_t(fastrnn::RnnKernel<T>& k, const py::object& d_outputs,
                       const py::object& d_last, const py::object& d_states, bool need_dx,
                       bool need_d_initial_state, int threads) {
    if (k.trained_batch() < 0)
      throw std::runtime_error("backward: expected a preceding forward(..., training=True)");
    const fastrnn::RnnSpec& s = k.spec();
    const fastrnn::CellInfo& ci = info();
    const index_t B = k.trained_batch(), Tn = k.trained_steps(), D = s.input, H = s.hidden;
    const py::array dy =
        check_optional(d_outputs, "d_outputs", {dtype_, {B, Tn, H}, "the dtype of x"});
    const py::array dl = check_optional(d_last, "d_last", {dtype_, {B, H}, "the dtype of x"});
    const std::vector<py::object> ds = state_list(d_states, "d_states", ci.states, ci.name);
    std::vector<py::array> dstate(ci.states, no_array());
    for (int i = 0; i < ci.states; ++i)
      dstate[i] = check_optional(ds[i], "d_states[" + std::to_string(i) + "]",
                                 {dtype_, {B, H}, "the dtype of x"});

    py::object dx_obj = py::none(), db_obj = py::none();
    py::array_t<T> dx, db;
    if (need_dx) { dx = py::array_t<T>({B, Tn, D}); dx_obj = dx; }
    py::array_t<T> dk(kernel_shape()), drk(recurrent_kernel_shape());
    if (s.use_bias) { db = py::array_t<T>(bias_shape()); db_obj = db; }
    py::list d_init;
    std::vector<py::array_t<T>> dh0;
    for (int i = 0; i < ci.states; ++i) {
      if (need_d_initial_state) {
        dh0.emplace_back(Shape{B, H});
        d_init.append(dh0.back());
      } else {
        d_init.append(py::none());
      }
    }
    fastrnn::KernelBackward<T> c;
    c.d_outputs = data_of<T>(dy);
    c.d_last = data_of<T>(dl);
    c.d_h_n = data_of<T>(dstate[0]);
    c.d_c_n = ci.states > 1 ? data_of<T>(dstate[1]) : nullptr;
    c.d_x = need_dx ? dx.mutable_data() : nullptr;
    c.d_kernel = dk.mutable_data();
    c.d_recurrent_kernel = drk.mutable_data();
    c.d_bias = s.use_bias ? db.mutable_data() : nullptr;
    c.d_h0 = need_d_initial_state ? dh0[0].mutable_data() : nullptr;
    c.d_c0 = (need_d_initial_state && ci.states > 1) ? dh0[1].mutable_data() : nullptr;
    c.threads = threads;
    const std::vector<py::object> trained = trained_;  // alive for the call
    {
      InFlight busy(in_flight_);
      py::gil_scoped_release release;
      k.backward(c);
    }
    return py::make_tuple(dx_obj, dk, drk, db_obj, d_init);
  }

  py::dtype dtype_;
  std::unique_ptr<fastrnn::RnnKernel<float>> f32_;
  std::unique_ptr<fastrnn::RnnKernel<double>> f64_;
  py::object weights_ = py::none();  // (kernel, recurrent_kernel, bias or None) as bound
  std::vector<py::object> trained_;  // x, dropout_mask, recurrent_dropout_mask, mask, weights
  std::atomic<int> in_flight_{0};
};

}  // namespace

void bind_rnn_kernel(py::module_& m) {
  m.def("precision_isa", [](const std::string& name) {
    return std::string(fastrnn::precision_isa(parse_precision(name)));
  }, py::arg("precision"),
        "The instructions of reduced-precision products: 'amx_bf16', 'amx_int8', "
        "'avx512_bf16', 'avx512_vnni' or 'portable' ('float32' for float32).");
  m.def("limit_precision_isa", [](const std::string& isa) {
    const char* const names[] = {"best", "avx512", "portable"};
    for (int i = 0; i < 3; ++i)
      if (isa == names[i])
        return fastrnn::limit_precision_isa(static_cast<fastrnn::PrecisionIsa>(i));
    throw py::value_error("isa: expected one of 'best', 'avx512', 'portable', got '" + isa +
                          "'");
  }, py::arg("isa"),
        "The best instructions reduced-precision products may use: 'best' (default), "
        "'avx512' (no AMX) or 'portable' (plain loops); for tests of every path.");
  py::class_<Kernel>(m, "RnnKernel",
                     "A recurrent layer's kernel (see fastrnn/kernel.hpp): built once from the "
                     "cell, sizes and options; owns its workspaces and training cache.")
      .def(py::init<const std::string&, index_t, index_t, const std::string&, const std::string&,
                    bool, bool, bool, bool, const py::object&>(),
           py::arg("cell"), py::arg("input_dim"), py::arg("units"), py::kw_only(),
           py::arg("activation") = "tanh", py::arg("recurrent_activation") = "sigmoid",
           py::arg("use_bias") = true, py::arg("reset_after") = true,
           py::arg("go_backwards") = false, py::arg("zero_output_for_mask") = false,
           py::arg("dtype") = "float32",
           "dtype: the float type of x and of every array (float32 or float64).")
      .def("bind_weights", &Kernel::bind_weights, py::arg("kernel"), py::arg("recurrent_kernel"),
           py::arg("bias") = py::none(),
           "Checks the weights once and keeps references to them: later calls read these "
           "arrays (updated in place by an optimizer).")
      .def("forward", &Kernel::forward, py::arg("x"), py::arg("initial_state") = py::none(),
           py::arg("mask") = py::none(), py::arg("dropout_mask") = py::none(),
           py::arg("recurrent_dropout_mask") = py::none(), py::arg("training") = false,
           py::arg("return_sequences") = true, py::arg("threads") = 0,
           "Returns (outputs [B,T,H] or, without return_sequences, the last output [B,H], "
           "[h_n] or [h_n, c_n]). training=True keeps what backward needs (one training "
           "call at a time per kernel); inference calls may run concurrently. threads: the "
           "call's team size (0: fastrnn.get_num_threads()).")
      .def("stream", &Kernel::stream, py::arg("x"), py::arg("states"),
           py::arg("return_sequences") = true, py::arg("threads") = 0,
           "A stateful layer's inference call: runs x from `states` (a list of [B,H] arrays) "
           "and overwrites them with the final states; returns the outputs ([B,T,H], or the "
           "last [B,H] without return_sequences). Reads the kernel's packed copy of the "
           "weights, made by the first such call after bind_weights or drop_packed_weights: "
           "call drop_packed_weights after the bound arrays change.")
      .def("set_precision", &Kernel::set_precision, py::arg("precision"),
           "'float32' (default), or 'bfloat16' / 'int8': inference calls then run the "
           "products with the weights in that precision, on the kernel's packed copy "
           "(made by the first call after bind_weights, drop_packed_weights or "
           "set_precision); training calls raise. float32 kernels only.")
      .def_property_readonly("precision", &Kernel::precision)
      .def("drop_packed_weights", &Kernel::drop_packed_weights,
           "Forget the packed copy of the weights that stream() reads (the bound arrays "
           "changed).")
      .def("backward", &Kernel::backward, py::arg("d_outputs") = py::none(),
           py::arg("d_last") = py::none(), py::arg("d_states") = py::none(),
           py::arg("need_dx") = true, py::arg("need_d_initial_state") = true,
           py::arg("threads") = 0,
           "Gradients of the last training forward: returns (d_x or None, d_kernel, "
           "d_recurrent_kernel, d_bias or None, [d_h0(, d_c0)] with None entries when not "
           "needed).")
      .def_property_readonly("cell", [](const Kernel& k) { return k.info().name; })
      .def_property_readonly("input_dim", [](const Kernel& k) { return k.spec().input; })
      .def_property_readonly("units", [](const Kernel& k) { return k.spec().hidden; })
      .def_property_readonly("dtype", &Kernel::dtype)
      .def_property_readonly("states", [](const Kernel& k) { return k.info().states; })
      .def_property_readonly("gates", [](const Kernel& k) { return k.info().gates; })
      .def_property_readonly("kernel_shape", &Kernel::kernel_shape)
      .def_property_readonly("recurrent_kernel_shape", &Kernel::recurrent_kernel_shape)
      .def_property_readonly("bias_shape", &Kernel::bias_shape_or_none,
                             "The bias' shape, None without use_bias.")
      .def_property_readonly("dropout_mask", &Kernel::dropout_mask,
                             "The dropout mask of the training forward backward differentiates.")
      .def_property_readonly("recurrent_dropout_mask", &Kernel::recurrent_dropout_mask);
}
