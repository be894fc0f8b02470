// Bindings of the fused optimizer steps, for an embedding table from (ids, rows) gradients and
// for a list of dense weights: check every argument (arrays.hpp) before anything changes,
// then release the GIL and update the weights and slots in place.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <string>
#include <vector>

#include "arrays.hpp"
#include "fastrnn/optimizer.hpp"
#include "scratch.hpp"

namespace py = pybind11;
using fastrnn::index_t;

namespace {

using namespace fastrnn_bindings;

// An array the step updates in place: exact dtype T, the given shape (that of `owner`: "the
// table's", "the weight's").
template <typename T>
py::array in_place(const py::handle& obj, const std::string& name, const Shape& shape,
                   const char* owner) {
  return check_array(obj, name, {py::dtype::of<T>(), shape, owner, Access::Update});
}

// The sparse step's scratch, of the calling thread.
template <typename T>
fastrnn::SparseScratch<T> scratch_for(index_t V, index_t E, index_t N) {
  return {thread_scratch<T>(2 * V * E), thread_scratch<index_t, 0>(V),
          thread_scratch<index_t, 1>(N + fastrnn::kSparseMaxThreads)};
}

// The slot arrays this optimizer needs, each checked and turned into a pointer by `get`.
template <typename T, typename Get>
fastrnn::OptimizerSlots<T> slots_of(const fastrnn::OptimizerStep& st, const py::dict& slots,
                                    Get get) {
  using fastrnn::OptimizerKind;
  const bool has_mom = st.momentum != 0.0;
  std::vector<const char*> need;
  switch (st.kind) {
    case OptimizerKind::SGD:
      if (has_mom) need = {"momentum"};
      break;
    case OptimizerKind::RMSprop:
      need = {"velocity"};
      if (has_mom) need.push_back("momentum");
      if (st.centered) need.push_back("average_gradient");
      break;
    case OptimizerKind::Adam:
      need = {"momentum", "velocity"};
      if (st.amsgrad) need.push_back("velocity_hat");
      break;
  }
  fastrnn::OptimizerSlots<T> sl;
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
void step_typed(const fastrnn::OptimizerStep& st, const py::array& table_obj, const py::dict& slots,
                const py::array& ids_obj, const py::array& values_obj) {
  const index_t V = table_obj.shape(0), E = table_obj.shape(1);
  const py::array table = in_place<T>(table_obj, "table", {V, E}, "the table's");

  std::vector<py::array> keep;  // holds the slot arrays while the GIL is released
  const fastrnn::OptimizerSlots<T> sl =
      slots_of<T>(st, slots, [&](const py::handle& obj, const std::string& name) {
        keep.push_back(in_place<T>(obj, name, {V, E}, "the table's"));
        return mutable_data_of<T>(keep.back());
      });

  auto ids = py::array_t<I, kContig>::ensure(ids_obj);
  const index_t N = ids.size();
  auto values = py::array_t<T, kContig>::ensure(values_obj);
  if (!values) throw py::type_error("values: cannot be converted to the table's dtype");
  if (values.size() != N * E || (values.ndim() > 0 && values.shape(values.ndim() - 1) != E))
    throw py::value_error("values: expected " + std::to_string(N) + " rows of width " +
                          std::to_string(E) + " (ids.shape + (" + std::to_string(E) +
                          ",)), got shape " + shape_str(values));
  check_ids(ids, V);

  const fastrnn::SparseScratch<T> scratch = scratch_for<T>(V, E, N);
  T* tp = mutable_data_of<T>(table);
  const I* ip = ids.data();
  const T* vp = values.data();
  py::gil_scoped_release release;
  fastrnn::sparse_optimizer_step<T, I>(st, tp, sl, V, E, ip, N, vp, scratch);
}

// A dense weight of any shape is updated as V rows of E: V = its leading axis.
template <typename T>
struct DenseJob {
  T* w;
  const T* g;
  fastrnn::OptimizerSlots<T> slots;
  index_t V, E;
};

template <typename T>
void dense_typed(const fastrnn::OptimizerStep& st, const py::list& weights, const py::list& grads,
                 const py::list& slots) {
  // Every argument is checked before any weight changes: a bad one leaves all untouched.
  std::vector<DenseJob<T>> jobs;
  std::vector<py::array> keep;  // holds every array while the GIL is released
  for (std::size_t i = 0; i < weights.size(); ++i) {
    const std::string at = "[" + std::to_string(i) + "]";
    const py::handle wobj = weights[i];
    if (!py::isinstance<py::array>(wobj))
      throw py::type_error("weights" + at + ": expected a NumPy array, got " + type_name(wobj));
    const Shape shape = shape_of(py::reinterpret_borrow<py::array>(wobj));
    const py::array w = in_place<T>(wobj, "weights" + at, shape, "the first weight's");
    const py::handle gobj = grads[i];
    if (py::isinstance<py::array>(gobj)) {
      const Shape gshape = shape_of(py::reinterpret_borrow<py::array>(gobj));
      if (gshape != shape)
        throw py::value_error("grads" + at + ": gradient of shape " + shape_str(gshape) +
                              " for a weight of shape " + shape_str(shape));
    }
    const py::array g =
        check_array(gobj, "grads" + at, {py::dtype::of<T>(), shape, "the weight's"});
    if (!py::isinstance<py::dict>(slots[i]))
      throw py::type_error("slots" + at + ": expected a dict of slot arrays");
    DenseJob<T> job;
    job.w = mutable_data_of<T>(w);
    job.g = data_of<T>(g);
    job.slots = slots_of<T>(st, slots[i].cast<py::dict>(),
                            [&](const py::handle& obj, const std::string& name) {
                              keep.push_back(in_place<T>(obj, "slots" + at + name.substr(5),
                                                         shape, "the weight's"));
                              return mutable_data_of<T>(keep.back());
                            });
    job.V = w.ndim() > 1 ? w.shape(0) : 1;
    job.E = job.V ? w.size() / job.V : 0;
    keep.push_back(w);
    keep.push_back(g);
    jobs.push_back(job);
  }
  py::gil_scoped_release release;
  for (const DenseJob<T>& j : jobs)
    fastrnn::dense_optimizer_step<T>(st, j.w, j.slots, j.V, j.E, j.g);
}

fastrnn::OptimizerStep make_step(const std::string& optimizer, double lr, double momentum,
                              bool nesterov, double rho, bool centered, double beta_1,
                              double beta_2, bool amsgrad, double epsilon, bool merged) {
  fastrnn::OptimizerStep st;
  if (optimizer == "sgd") st.kind = fastrnn::OptimizerKind::SGD;
  else if (optimizer == "rmsprop") st.kind = fastrnn::OptimizerKind::RMSprop;
  else if (optimizer == "adam") st.kind = fastrnn::OptimizerKind::Adam;
  else
    throw py::value_error("optimizer: expected 'sgd', 'rmsprop' or 'adam', got '" + optimizer +
                          "'");
  st.lr = lr, st.momentum = momentum, st.nesterov = nesterov, st.rho = rho;
  st.centered = centered, st.beta_1 = beta_1, st.beta_2 = beta_2;
  st.amsgrad = amsgrad, st.epsilon = epsilon, st.merged = merged;
  return st;
}

}  // namespace

void bind_optimizer(py::module_& m) {
  m.def(
      "sparse_optimizer_step",
      [](const std::string& optimizer, const py::object& table_obj, const py::object& ids_obj,
         const py::object& values_obj, const py::dict& slots, double lr, double momentum,
         bool nesterov, double rho, bool centered, double beta_1, double beta_2, bool amsgrad,
         double epsilon, bool merged) {
        const fastrnn::OptimizerStep st = make_step(optimizer, lr, momentum, nesterov, rho,
                                                 centered, beta_1, beta_2, amsgrad, epsilon,
                                                 merged);
        const py::dtype dt = float_dtype(table_obj, "table");
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
        if (is_float32(dt)) {
          if (i32) step_typed<float, std::int32_t>(st, table, slots, ids, values);
          else step_typed<float, std::int64_t>(st, table, slots, ids, values);
        } else {
          if (i32) step_typed<double, std::int32_t>(st, table, slots, ids, values);
          else step_typed<double, std::int64_t>(st, table, slots, ids, values);
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
        const fastrnn::OptimizerStep st = make_step(optimizer, lr, momentum, nesterov, rho,
                                                 centered, beta_1, beta_2, amsgrad, epsilon,
                                                 /*merged=*/true);
        if (grads.size() != weights.size() || slots.size() != weights.size())
          throw py::value_error("grads, slots: expected one entry per weight (" +
                                std::to_string(weights.size()) + "), got " +
                                std::to_string(grads.size()) + " and " +
                                std::to_string(slots.size()));
        if (weights.size() == 0) return;
        const py::handle first = weights[0];
        if (py::isinstance<py::array>(first) &&
            same_dtype(py::reinterpret_borrow<py::array>(first).dtype(), py::dtype::of<double>()))
          dense_typed<double>(st, weights, grads, slots);
        else
          dense_typed<float>(st, weights, grads, slots);
      },
      py::arg("optimizer"), py::arg("weights"), py::arg("grads"), py::arg("slots"),
      py::kw_only(), py::arg("lr"), py::arg("momentum") = 0.0, py::arg("nesterov") = false,
      py::arg("rho") = 0.9, py::arg("centered") = false, py::arg("beta_1") = 0.9,
      py::arg("beta_2") = 0.999, py::arg("amsgrad") = false, py::arg("epsilon") = 1e-7,
      "One SGD/RMSprop/Adam step of dense weights in place (lists: weights, their gradients "
      "of the same shape and dtype, their slot dicts), Keras 3's dense formulas. All "
      "arguments are checked before any weight changes.");
}
