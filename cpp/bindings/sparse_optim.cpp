// Binding of the fused sparse optimizer step: validates the table, the slots, the ids and the
// gradient rows, then releases the GIL and updates the table and slots in place.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <string>
#include <vector>

#include "fastrnn/sparse_optim.hpp"
#include "ids.hpp"
#include "shapes.hpp"

namespace py = pybind11;
using fastrnn::index_t;

namespace {

using Shape = std::vector<index_t>;
using fastrnn_bindings::shape_of;
using fastrnn_bindings::shape_str;

// An array the step writes into: exact dtype T, the given shape (that of `owner`: "the
// table's", "the weight's"), C-contiguous, writeable.
template <typename T>
py::array_t<T> in_place(const py::handle& obj, const std::string& name, const Shape& shape,
                        const char* owner) {
  if (!py::isinstance<py::array>(obj))
    throw py::type_error(name + ": expected a NumPy array, got " +
                         std::string(py::str(py::type::handle_of(obj).attr("__name__"))));
  auto a = py::reinterpret_borrow<py::array>(obj);
  if (a.dtype().num() != py::dtype::of<T>().num())
    throw py::type_error(name + ": expected dtype " + std::string(py::str(py::dtype::of<T>())) +
                         " (" + owner + "), got " + std::string(py::str(a.dtype())));
  if (shape_of(a) != shape)
    throw py::value_error(name + ": expected shape " + shape_str(shape) + ", got " + shape_str(a) +
                          " (it must match " + owner + ")");
  if (!(a.flags() & py::array::c_style) || !a.writeable())
    throw py::value_error(name + ": must be a writeable C-contiguous array (updated in place)");
  return py::reinterpret_borrow<py::array_t<T>>(a);
}

template <typename T>
struct Scratch {
  std::vector<T> acc;
  std::vector<index_t> counts;
  std::vector<index_t> order;
};

// Per calling thread, grown on demand: a training loop reuses warm pages every step.
template <typename T>
fastrnn::SparseScratch<T> scratch_for(index_t V, index_t E, index_t N) {
  thread_local Scratch<T> s;
  auto grow = [](auto& v, index_t n) {
    if (v.size() < static_cast<std::size_t>(n)) v.resize(static_cast<std::size_t>(n));
  };
  grow(s.acc, 2 * V * E);
  grow(s.counts, V);
  grow(s.order, N + fastrnn::kSparseMaxThreads);
  return {s.acc.data(), s.counts.data(), s.order.data()};
}

// The slot arrays this optimizer needs, each checked and turned into a pointer by `get`.
template <typename T, typename Get>
fastrnn::SparseSlots<T> slots_of(const fastrnn::SparseStep& st, const py::dict& slots, Get get) {
  using fastrnn::SparseOptimizer;
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
  for (const char* name : need) {
    if (!slots.contains(name))
      throw py::value_error(std::string("slots: missing '") + name + "' for this optimizer");
    T* p = get(slots[name], std::string("slots['") + name + "']");
    const std::string n(name);
    if (n == "momentum") sl.momentum = p;
    else if (n == "velocity") sl.velocity = p;
    else if (n == "average_gradient") sl.average_gradient = p;
    else sl.velocity_hat = p;
  }
  return sl;
}

constexpr auto kContig = py::array::c_style | py::array::forcecast;

template <typename T, typename I>
void step_typed(const fastrnn::SparseStep& st, const py::array& table_obj, const py::dict& slots,
                const py::array& ids_obj, const py::array& values_obj) {
  using fastrnn::SparseOptimizer;
  const index_t V = table_obj.shape(0), E = table_obj.shape(1);
  auto table = in_place<T>(table_obj, "table", {V, E}, "the table's");

  std::vector<py::array_t<T>> keep;  // holds the slot arrays while the GIL is released
  const fastrnn::SparseSlots<T> sl =
      slots_of<T>(st, slots, [&](const py::handle& obj, const std::string& name) {
        keep.push_back(in_place<T>(obj, name, {V, E}, "the table's"));
        return keep.back().mutable_data();
      });

  auto ids = py::array_t<I, kContig>::ensure(ids_obj);
  const index_t N = ids.size();
  auto values = py::array_t<T, kContig>::ensure(values_obj);
  if (!values) throw py::type_error("values: cannot be converted to the table's dtype");
  if (values.size() != N * E || (values.ndim() > 0 && values.shape(values.ndim() - 1) != E))
    throw py::value_error("values: expected " + std::to_string(N) + " rows of width " +
                          std::to_string(E) + " (ids.shape + (" + std::to_string(E) +
                          ",)), got shape " + shape_str(values));
  fastrnn_bindings::check_ids(ids, V);

  const fastrnn::SparseScratch<T> scratch = scratch_for<T>(V, E, N);
  T* tp = table.mutable_data();
  const I* ip = ids.data();
  const T* vp = values.data();
  py::gil_scoped_release release;
  fastrnn::sparse_optimizer_step<T, I>(st, tp, sl, V, E, ip, N, vp, scratch);
}

// A dense weight is the sparse case with every row named once (ids 0..V-1, `merged`): row r's
// sum is g[r] and its square g[r]**2, the dense formulas exactly. V = the leading axis.
template <typename T>
struct DenseJob {
  T* w;
  const T* g;
  fastrnn::SparseSlots<T> slots;
  index_t V, E;
};

template <typename T>
void dense_typed(const fastrnn::SparseStep& st, const py::list& weights, const py::list& grads,
                 const py::list& slots) {
  // Every argument is checked before any weight changes: a bad one leaves all untouched.
  std::vector<DenseJob<T>> jobs;
  index_t max_rows = 0;
  for (std::size_t i = 0; i < weights.size(); ++i) {
    const std::string at = "[" + std::to_string(i) + "]";
    const py::handle wobj = weights[i];
    if (!py::isinstance<py::array>(wobj))
      throw py::type_error("weights" + at + ": expected a NumPy array");
    auto w = py::reinterpret_borrow<py::array>(wobj);
    const Shape shape = shape_of(w);
    DenseJob<T> job;
    job.w = in_place<T>(w, "weights" + at, shape, "the first weight's").mutable_data();
    const py::handle gobj = grads[i];
    if (!py::isinstance<py::array>(gobj))
      throw py::type_error("grads" + at + ": expected a NumPy array, got " +
                           std::string(py::str(py::type::handle_of(gobj).attr("__name__"))));
    auto g = py::reinterpret_borrow<py::array>(gobj);
    if (shape_of(g) != shape)
      throw py::value_error("grads" + at + ": gradient of shape " + shape_str(g) +
                            " for a weight of shape " + shape_str(w));
    if (g.dtype().num() != py::dtype::of<T>().num() || !(g.flags() & py::array::c_style))
      throw py::type_error("grads" + at + ": expected a C-contiguous array of dtype " +
                           std::string(py::str(py::dtype::of<T>())) + ", got dtype " +
                           std::string(py::str(g.dtype())));
    job.g = static_cast<const T*>(g.data());
    if (!py::isinstance<py::dict>(slots[i]))
      throw py::type_error("slots" + at + ": expected a dict of slot arrays");
    job.slots = slots_of<T>(st, slots[i].cast<py::dict>(),
                            [&](const py::handle& obj, const std::string& name) {
                              return in_place<T>(obj, "slots" + at + name.substr(5), shape,
                                                 "the weight's").mutable_data();
                            });
    job.V = w.ndim() > 1 ? w.shape(0) : 1;
    job.E = job.V ? w.size() / job.V : 0;
    max_rows = std::max(max_rows, job.V);
    jobs.push_back(job);
  }
  thread_local std::vector<std::int64_t> rows;
  while (static_cast<index_t>(rows.size()) < max_rows)
    rows.push_back(static_cast<std::int64_t>(rows.size()));
  // The weights, grads and slots stay alive: the caller's lists hold them during the call.
  py::gil_scoped_release release;
  for (const DenseJob<T>& j : jobs)
    fastrnn::sparse_optimizer_step<T, std::int64_t>(st, j.w, j.slots, j.V, j.E, rows.data(), j.V,
                                                    j.g, scratch_for<T>(j.V, j.E, j.V));
}

fastrnn::SparseStep make_step(const std::string& optimizer, double lr, double momentum,
                              bool nesterov, double rho, bool centered, double beta_1,
                              double beta_2, bool amsgrad, double epsilon, bool merged) {
  fastrnn::SparseStep st;
  if (optimizer == "sgd") st.kind = fastrnn::SparseOptimizer::SGD;
  else if (optimizer == "rmsprop") st.kind = fastrnn::SparseOptimizer::RMSprop;
  else if (optimizer == "adam") st.kind = fastrnn::SparseOptimizer::Adam;
  else
    throw py::value_error("optimizer: expected 'sgd', 'rmsprop' or 'adam', got '" + optimizer +
                          "'");
  st.lr = lr, st.momentum = momentum, st.nesterov = nesterov, st.rho = rho;
  st.centered = centered, st.beta_1 = beta_1, st.beta_2 = beta_2;
  st.amsgrad = amsgrad, st.epsilon = epsilon, st.merged = merged;
  return st;
}

}  // namespace

void bind_sparse_optim(py::module_& m) {
  m.def(
      "sparse_optimizer_step",
      [](const std::string& optimizer, const py::object& table_obj, const py::object& ids_obj,
         const py::object& values_obj, const py::dict& slots, double lr, double momentum,
         bool nesterov, double rho, bool centered, double beta_1, double beta_2, bool amsgrad,
         double epsilon, bool merged) {
        const fastrnn::SparseStep st = make_step(optimizer, lr, momentum, nesterov, rho,
                                                 centered, beta_1, beta_2, amsgrad, epsilon,
                                                 merged);
        if (!py::isinstance<py::array>(table_obj))
          throw py::type_error("table: expected a NumPy array");
        auto table = py::reinterpret_borrow<py::array>(table_obj);
        if (table.ndim() != 2)
          throw py::value_error("table: expected a 2-D array [input_dim, output_dim], got shape " +
                                shape_str(table));
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
  m.def(
      "dense_optimizer_step",
      [](const std::string& optimizer, const py::list& weights, const py::list& grads,
         const py::list& slots, double lr, double momentum, bool nesterov, double rho,
         bool centered, double beta_1, double beta_2, bool amsgrad, double epsilon) {
        const fastrnn::SparseStep st = make_step(optimizer, lr, momentum, nesterov, rho,
                                                 centered, beta_1, beta_2, amsgrad, epsilon,
                                                 /*merged=*/true);
        if (grads.size() != weights.size() || slots.size() != weights.size())
          throw py::value_error("grads, slots: expected one entry per weight (" +
                                std::to_string(weights.size()) + "), got " +
                                std::to_string(grads.size()) + " and " +
                                std::to_string(slots.size()));
        if (weights.size() == 0) return;
        const auto first = py::reinterpret_borrow<py::object>(weights[0]);
        if (py::isinstance<py::array_t<double>>(first) &&
            py::reinterpret_borrow<py::array>(first).dtype().num() ==
                py::dtype::of<double>().num())
          dense_typed<double>(st, weights, grads, slots);
        else
          dense_typed<float>(st, weights, grads, slots);
      },
      py::arg("optimizer"), py::arg("weights"), py::arg("grads"), py::arg("slots"),
      py::kw_only(), py::arg("lr"), py::arg("momentum") = 0.0, py::arg("nesterov") = false,
      py::arg("rho") = 0.9, py::arg("centered") = false, py::arg("beta_1") = 0.9,
      py::arg("beta_2") = 0.999, py::arg("amsgrad") = false, py::arg("epsilon") = 1e-7,
      "One SGD/RMSprop/Adam step of dense weights in place (lists: weights, their gradients "
      "of the same shape and dtype, their slot dicts); the formulas of sparse_optimizer_step "
      "with every row named once. All arguments are checked before any weight changes.");
}
