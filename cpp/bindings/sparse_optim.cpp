// Binding of the fused sparse optimizer step: validates the table, the slots, the ids and the
// gradient rows, then releases the GIL and updates the table and slots in place.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <string>
#include <vector>

#include "fastrnn/sparse_optim.hpp"
#include "ids.hpp"

namespace py = pybind11;
using fastrnn::index_t;

namespace {

std::string shape_of(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t i = 0; i < a.ndim(); ++i)
    s += (i ? ", " : "") + std::to_string(a.shape(i));
  return s + (a.ndim() == 1 ? ",)" : ")");
}

// An array the step writes into: exact dtype, shape [V,E], C-contiguous, writeable.
template <typename T>
py::array_t<T> in_place(const py::handle& obj, const std::string& name, index_t V, index_t E) {
  if (!py::isinstance<py::array>(obj))
    throw py::type_error(name + ": expected a NumPy array, got " +
                         std::string(py::str(py::type::handle_of(obj).attr("__name__"))));
  auto a = py::reinterpret_borrow<py::array>(obj);
  if (a.dtype().num() != py::dtype::of<T>().num())
    throw py::type_error(name + ": expected dtype " + std::string(py::str(py::dtype::of<T>())) +
                         " (the table's), got " + std::string(py::str(a.dtype())));
  if (a.ndim() != 2 || a.shape(0) != V || a.shape(1) != E)
    throw py::value_error(name + ": expected shape (" + std::to_string(V) + ", " +
                          std::to_string(E) + "), got " + shape_of(a));
  if (!(a.flags() & py::array::c_style) || !a.writeable())
    throw py::value_error(name + ": must be a writeable C-contiguous array (updated in place)");
  return py::reinterpret_borrow<py::array_t<T>>(a);
}

template <typename T>
struct Scratch {
  std::vector<T> acc;
  std::vector<index_t> counts;
};

// Per calling thread, grown on demand: a training loop reuses warm pages every step.
template <typename T>
fastrnn::SparseScratch<T> scratch_for(index_t V, index_t E) {
  thread_local Scratch<T> s;
  auto grow = [](auto& v, index_t n) {
    if (v.size() < static_cast<std::size_t>(n)) v.resize(static_cast<std::size_t>(n));
  };
  grow(s.acc, 2 * V * E);
  grow(s.counts, V);
  return {s.acc.data(), s.counts.data()};
}

constexpr auto kContig = py::array::c_style | py::array::forcecast;

template <typename T, typename I>
void step_typed(const fastrnn::SparseStep& st, const py::array& table_obj, const py::dict& slots,
                const py::array& ids_obj, const py::array& values_obj) {
  using fastrnn::SparseOptimizer;
  const index_t V = table_obj.shape(0), E = table_obj.shape(1);
  auto table = in_place<T>(table_obj, "table", V, E);

  const bool has_mom = st.momentum != 0.0;
  std::vector<const char*> need;
  switch (st.kind) {
    case SparseOptimizer::SGD:
      if (has_mom) need = {"momentum"};
      break;
    case SparseOptimizer::RMSprop:
      need = {"velocity"};
      if (has_mom) need.push_back("momentum");
      if (st.centered) need.push_back("average_gradient");
      break;
    case SparseOptimizer::Adam:
      need = {"momentum", "velocity"};
      if (st.amsgrad) need.push_back("velocity_hat");
      break;
  }
  fastrnn::SparseSlots<T> sl;
  std::vector<py::array_t<T>> keep;  // holds the slot arrays while the GIL is released
  for (const char* name : need) {
    if (!slots.contains(name))
      throw py::value_error(std::string("slots: missing '") + name + "' for this optimizer");
    keep.push_back(in_place<T>(slots[name], std::string("slots['") + name + "']", V, E));
    T* p = keep.back().mutable_data();
    const std::string n(name);
    if (n == "momentum") sl.momentum = p;
    else if (n == "velocity") sl.velocity = p;
    else if (n == "average_gradient") sl.average_gradient = p;
    else sl.velocity_hat = p;
  }

  auto ids = py::array_t<I, kContig>::ensure(ids_obj);
  const index_t N = ids.size();
  auto values = py::array_t<T, kContig>::ensure(values_obj);
  if (!values) throw py::type_error("values: cannot be converted to the table's dtype");
  if (values.size() != N * E || (values.ndim() > 0 && values.shape(values.ndim() - 1) != E))
    throw py::value_error("values: expected " + std::to_string(N) + " rows of width " +
                          std::to_string(E) + " (ids.shape + (" + std::to_string(E) +
                          ",)), got shape " + shape_of(values));
  fastrnn_bindings::check_ids(ids, V);

  const fastrnn::SparseScratch<T> scratch = scratch_for<T>(V, E);
  T* tp = table.mutable_data();
  const I* ip = ids.data();
  const T* vp = values.data();
  py::gil_scoped_release release;
  fastrnn::sparse_optimizer_step<T, I>(st, tp, sl, V, E, ip, N, vp, scratch);
}

}  // namespace

void bind_sparse_optim(py::module_& m) {
  m.def(
      "sparse_optimizer_step",
      [](const std::string& optimizer, const py::object& table_obj, const py::object& ids_obj,
         const py::object& values_obj, const py::dict& slots, double lr, double momentum,
         bool nesterov, double rho, bool centered, double beta_1, double beta_2, bool amsgrad,
         double epsilon, bool merged) {
        fastrnn::SparseStep st;
        if (optimizer == "sgd") st.kind = fastrnn::SparseOptimizer::SGD;
        else if (optimizer == "rmsprop") st.kind = fastrnn::SparseOptimizer::RMSprop;
        else if (optimizer == "adam") st.kind = fastrnn::SparseOptimizer::Adam;
        else
          throw py::value_error("optimizer: expected 'sgd', 'rmsprop' or 'adam', got '" +
                                optimizer + "'");
        st.lr = lr, st.momentum = momentum, st.nesterov = nesterov, st.rho = rho;
        st.centered = centered, st.beta_1 = beta_1, st.beta_2 = beta_2;
        st.amsgrad = amsgrad, st.epsilon = epsilon, st.merged = merged;

        if (!py::isinstance<py::array>(table_obj))
          throw py::type_error("table: expected a NumPy array");
        auto table = py::reinterpret_borrow<py::array>(table_obj);
        if (table.ndim() != 2)
          throw py::value_error("table: expected a 2-D array [input_dim, output_dim], got shape " +
                                shape_of(table));
        const auto ids = py::array::ensure(ids_obj);
        if (!ids || ids.dtype().kind() != 'i' && ids.dtype().kind() != 'u')
          throw py::type_error("ids: expected an integer array");
        const bool i32 = ids.dtype().num() == py::dtype::of<std::int32_t>().num();
        const auto values = py::array::ensure(values_obj);
        if (!values) throw py::type_error("values: expected an array");
        if (table.dtype().num() == py::dtype::of<float>().num()) {
          if (i32) step_typed<float, std::int32_t>(st, table, slots, ids, values);
          else step_typed<float, std::int64_t>(st, table, slots, ids, values);
        } else if (table.dtype().num() == py::dtype::of<double>().num()) {
          if (i32) step_typed<double, std::int32_t>(st, table, slots, ids, values);
          else step_typed<double, std::int64_t>(st, table, slots, ids, values);
        } else {
          throw py::type_error("table: expected dtype float32 or float64, got " +
                               std::string(py::str(table.dtype())));
        }
      },
      py::arg("optimizer"), py::arg("table"), py::arg("ids"), py::arg("values"),
      py::arg("slots"), py::kw_only(), py::arg("lr"), py::arg("momentum") = 0.0,
      py::arg("nesterov") = false, py::arg("rho") = 0.9, py::arg("centered") = false,
      py::arg("beta_1") = 0.9, py::arg("beta_2") = 0.999, py::arg("amsgrad") = false,
      py::arg("epsilon") = 1e-7, py::arg("merged") = false,
      "One SGD/RMSprop/Adam step of an embedding table from sparse rows (ids, values), in "
      "place on table and the slot arrays (dict: momentum, velocity, average_gradient, "
      "velocity_hat). Keras 3 IndexedSlices semantics; lr is Adam's bias-corrected alpha.");
}
