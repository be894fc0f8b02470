// Bindings of the embedding gather and its de-duplicated gradient.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>
#include <vector>

#include "fastrnn/embedding.hpp"
#include "arrays.hpp"
#include "scratch.hpp"

namespace py = pybind11;
using fastrnn::index_t;

namespace {

using fastrnn_bindings::check_ids;
using fastrnn_bindings::thread_scratch;

template <typename T, typename I>
py::array lookup(const py::array_t<T>& table, const py::array_t<I>& ids) {
  const index_t V = table.shape(0), E = table.shape(1), N = ids.size();
  check_ids(ids, V);
  std::vector<index_t> shape(ids.shape(), ids.shape() + ids.ndim());
  shape.push_back(E);
  py::array_t<T> out(shape);
  const T* tp = table.data();
  const I* ip = ids.data();
  T* op = out.mutable_data();
  {
    py::gil_scoped_release release;
    fastrnn::embedding_forward<T, I>(tp, V, E, ip, N, op);
  }
  return out;
}

template <typename T, typename I>
py::tuple grad(const py::array_t<I>& ids, const py::array_t<T>& d, index_t V, bool squares) {
  const index_t N = ids.size();
  if (d.ndim() < 1 || d.size() % std::max<index_t>(N, 1) != 0 || (N > 0 && d.size() / N < 1))
    throw py::value_error("d_outputs: expected shape ids.shape + (output_dim,)");
  const index_t E = N ? d.size() / N : (d.ndim() ? d.shape(d.ndim() - 1) : 0);
  check_ids(ids, V);
  py::array_t<std::int64_t> uniq(std::vector<index_t>{N});
  py::array_t<T> sums(std::vector<index_t>{N, E});
  py::array_t<T> sq(std::vector<index_t>{squares ? N : 0, E});
  index_t* slot = thread_scratch<index_t>(static_cast<std::size_t>(V));
  index_t U;
  const I* ip = ids.data();
  const T* dp = d.data();
  auto* up = reinterpret_cast<index_t*>(uniq.mutable_data());
  T* sp = sums.mutable_data();
  T* qp = squares ? sq.mutable_data() : nullptr;
  {
    py::gil_scoped_release release;
    U = fastrnn::embedding_backward<T, I>(ip, N, dp, E, V, up, sp, qp, slot);
  }
  py::object sq_obj = squares ? py::object(sq[py::slice(0, U, 1)]) : py::object(py::none());
  return py::make_tuple(uniq[py::slice(0, U, 1)], sums[py::slice(0, U, 1)], sq_obj);
}

constexpr auto kContig = py::array::c_style | py::array::forcecast;

}  // namespace

void bind_embedding(py::module_& m) {
  m.def("embedding_lookup",
        [](const py::array& table, const py::array& ids) -> py::array {
          if (table.ndim() != 2) throw py::value_error("table: expected a 2-D array [input_dim, output_dim]");
          const bool f64 = table.dtype().num() == py::dtype::of<double>().num();
          const bool i32 = ids.dtype().num() == py::dtype::of<std::int32_t>().num();
          if (f64)
            return i32 ? lookup<double, std::int32_t>(py::array_t<double, kContig>::ensure(table), py::array_t<std::int32_t, kContig>::ensure(ids))
                       : lookup<double, std::int64_t>(py::array_t<double, kContig>::ensure(table), py::array_t<std::int64_t, kContig>::ensure(ids));
          return i32 ? lookup<float, std::int32_t>(py::array_t<float, kContig>::ensure(table), py::array_t<std::int32_t, kContig>::ensure(ids))
                     : lookup<float, std::int64_t>(py::array_t<float, kContig>::ensure(table), py::array_t<std::int64_t, kContig>::ensure(ids));
        },
        py::arg("table"), py::arg("ids"),
        "table[ids] for integer ids (any shape); IndexError for an id outside [0, input_dim).");
  m.def("embedding_grad",
        [](const py::array& ids, const py::array& d, index_t input_dim, bool squares) -> py::tuple {
          const bool f64 = d.dtype().num() == py::dtype::of<double>().num();
          const bool i32 = ids.dtype().num() == py::dtype::of<std::int32_t>().num();
          if (f64)
            return i32 ? grad<double, std::int32_t>(py::array_t<std::int32_t, kContig>::ensure(ids), py::array_t<double, kContig>::ensure(d), input_dim, squares)
                       : grad<double, std::int64_t>(py::array_t<std::int64_t, kContig>::ensure(ids), py::array_t<double, kContig>::ensure(d), input_dim, squares);
          return i32 ? grad<float, std::int32_t>(py::array_t<std::int32_t, kContig>::ensure(ids), py::array_t<float, kContig>::ensure(d), input_dim, squares)
                     : grad<float, std::int64_t>(py::array_t<std::int64_t, kContig>::ensure(ids), py::array_t<float, kContig>::ensure(d), input_dim, squares);
        },
        py::arg("ids"), py::arg("d_outputs"), py::arg("input_dim"), py::arg("squares") = false,
        "Rows of d_outputs summed per distinct id: (ids ascending int64 [U], sums [U, E], "
        "sums of squares [U, E] or None).");
}
