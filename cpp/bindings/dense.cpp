// Bindings of the Dense layer kernels and the binary crossentropy: validate dtype, rank,
// shape and contiguity (TypeError/ValueError naming the argument), allocate the outputs,
// release the GIL, compute.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>
#include <vector>

#include "fastrnn/dense.hpp"
#include "fastrnn/losses.hpp"
#include "shapes.hpp"

namespace py = pybind11;
using fastrnn::index_t;

namespace {

using fastrnn_bindings::shape_str;

// The packed kernel, per calling thread and grown on demand (caller-owned kernel scratch).
template <typename T>
T* dense_scratch(index_t K, index_t U) {
  thread_local std::vector<T> buf;
  const std::size_t n = fastrnn::dense_scratch_size<T>(K, U);
  if (buf.size() < n) buf.resize(n);
  return buf.data();
}

fastrnn::DenseActivation parse(const std::string& name) {
  using A = fastrnn::DenseActivation;
  if (name == "linear") return A::Linear;
  if (name == "relu") return A::Relu;
  if (name == "sigmoid") return A::Sigmoid;
  if (name == "tanh") return A::Tanh;
  if (name == "softmax") return A::Softmax;
  throw py::value_error("activation: expected one of 'linear', 'relu', 'sigmoid', 'tanh', "
                        "'softmax', got '" + name + "'");
}

// `obj` as a C-contiguous array of `dtype` with the given shape (dims < 0: any extent).
py::array checked(const py::object& obj, const char* name, const py::dtype& dtype,
                  std::initializer_list<index_t> dims, bool writeable = false) {
  if (!py::isinstance<py::array>(obj))
    throw py::type_error(std::string(name) + ": expected a NumPy array, got " +
                         std::string(py::str(py::type::handle_of(obj).attr("__name__"))));
  auto a = py::reinterpret_borrow<py::array>(obj);
  if (a.dtype().num() != dtype.num())
    throw py::type_error(std::string(name) + ": expected dtype " + std::string(py::str(dtype)) +
                         ", got " + std::string(py::str(a.dtype())));
  bool ok = a.ndim() == static_cast<py::ssize_t>(dims.size());
  std::size_t i = 0;
  for (index_t d : dims) ok = ok && (d < 0 || a.shape(i++) == d);
  if (!ok)
    throw py::value_error(std::string(name) + ": expected shape " +
                          shape_str(std::vector<index_t>(dims)) + " (-1: any), got " +
                          shape_str(a));
  if (!(a.flags() & py::array::c_style) || (writeable && !a.writeable()))
    throw py::value_error(std::string(name) + (writeable ? ": expected a writeable" : ": expected a") +
                          " C-contiguous array");
  return a;
}

// The float type of the argument `name` that fixes every other argument's dtype.
py::dtype float_dtype(const py::object& x, const char* name) {
  if (py::isinstance<py::array>(x)) {
    auto d = py::reinterpret_borrow<py::array>(x).dtype();
    if (d.num() == py::dtype::of<float>().num() || d.num() == py::dtype::of<double>().num())
      return d;
    throw py::type_error(std::string(name) + ": expected dtype float32 or float64, got " +
                         std::string(py::str(d)));
  }
  throw py::type_error(std::string(name) + ": expected a NumPy array, got " +
                       std::string(py::str(py::type::handle_of(x).attr("__name__"))));
}

template <typename T>
py::tuple forward(const py::array& x, const py::array& kernel, const py::object& bias,
                  fastrnn::DenseActivation act) {
  const index_t N = x.shape(0), K = x.shape(1), U = kernel.shape(1);
  const T* b = bias.is_none() ? nullptr : static_cast<const T*>(bias.cast<py::array>().data());
  py::array_t<T> z({N, U});
  const bool linear = act == fastrnn::DenseActivation::Linear;
  py::array_t<T> y = linear ? z : py::array_t<T>({N, U});
  const T* xp = static_cast<const T*>(x.data());
  const T* kp = static_cast<const T*>(kernel.data());
  T* zp = z.mutable_data();
  T* yp = y.mutable_data();
  T* sp = dense_scratch<T>(K, U);
  {
    py::gil_scoped_release release;
    fastrnn::dense_forward<T>(N, K, U, xp, kp, b, act, zp, yp, sp);
  }
  return py::make_tuple(z, y);
}

template <typename T>
py::object backward(const py::array& x, const py::array& kernel, const py::array& dy,
                    const py::array& y, fastrnn::DenseActivation act, bool wrt_logits,
                    const py::array& dk, const py::object& db, bool need_dx) {
  const index_t N = x.shape(0), K = x.shape(1), U = kernel.shape(1);
  py::array_t<T> dz({N, U});
  py::object dx_obj = py::none();
  T* dxp = nullptr;
  if (need_dx) {
    py::array_t<T> dx({N, K});
    dxp = dx.mutable_data();
    dx_obj = dx;
  }
  T* dbp = db.is_none() ? nullptr : static_cast<T*>(db.cast<py::array>().mutable_data());
  const T* xp = static_cast<const T*>(x.data());
  const T* kp = static_cast<const T*>(kernel.data());
  const T* gp = static_cast<const T*>(dy.data());
  const T* yp = static_cast<const T*>(y.data());
  T* dzp = dz.mutable_data();
  T* dkp = static_cast<T*>(const_cast<void*>(dk.data()));
  T* sp = dense_scratch<T>(K, U);
  {
    py::gil_scoped_release release;
    fastrnn::dense_backward<T>(N, K, U, xp, kp, gp, yp, act, wrt_logits, dzp, dkp, dbp, dxp, sp);
  }
  return dx_obj;
}

template <typename T>
py::tuple bce(const py::array& y, const py::array& p, bool from_logits, double scale) {
  const index_t K = p.ndim() ? p.shape(p.ndim() - 1) : 1;
  const index_t N = K ? p.size() / K : 0;
  std::vector<py::ssize_t> shape(p.shape(), p.shape() + p.ndim());
  py::array_t<T> grad(shape);
  const T* yp = static_cast<const T*>(y.data());
  const T* pp = static_cast<const T*>(p.data());
  T* gp = grad.mutable_data();
  double value;
  {
    py::gil_scoped_release release;
    value = fastrnn::binary_crossentropy<T>(N, K, yp, pp, from_logits, T(scale), gp);
  }
  return py::make_tuple(value, grad);
}

}  // namespace

void bind_dense(py::module_& m) {
  m.def(
      "dense_forward",
      [](const py::object& x_obj, const py::object& kernel_obj, const py::object& bias_obj,
         const std::string& activation) -> py::tuple {
        const auto act = parse(activation);
        const py::dtype dt = float_dtype(x_obj, "x");
        auto x = checked(x_obj, "x", dt, {-1, -1});
        auto kernel = checked(kernel_obj, "kernel", dt, {x.shape(1), -1});
        if (!bias_obj.is_none()) checked(bias_obj, "bias", dt, {kernel.shape(1)});
        if (dt.num() == py::dtype::of<float>().num())
          return forward<float>(x, kernel, bias_obj, act);
        return forward<double>(x, kernel, bias_obj, act);
      },
      py::arg("x"), py::arg("kernel"), py::arg("bias"), py::arg("activation"),
      "Dense forward on x [N,K], kernel [K,U], bias [U] or None: returns (z, y) with "
      "z = x @ kernel + bias and y = activation(z) (the same array as z for 'linear').");
  m.def(
      "dense_backward",
      [](const py::object& x_obj, const py::object& kernel_obj, const py::object& dy_obj,
         const py::object& y_obj, const std::string& activation, bool wrt_logits,
         const py::object& dk_obj, const py::object& db_obj, bool need_dx) -> py::object {
        const auto act = parse(activation);
        const py::dtype dt = float_dtype(x_obj, "x");
        auto x = checked(x_obj, "x", dt, {-1, -1});
        auto kernel = checked(kernel_obj, "kernel", dt, {x.shape(1), -1});
        const index_t N = x.shape(0), K = x.shape(1), U = kernel.shape(1);
        auto dy = checked(dy_obj, "d_outputs", dt, {N, U});
        auto y = checked(y_obj, "outputs", dt, {N, U});
        auto dk = checked(dk_obj, "d_kernel", dt, {K, U}, true);
        if (!db_obj.is_none()) checked(db_obj, "d_bias", dt, {U}, true);
        if (dt.num() == py::dtype::of<float>().num())
          return backward<float>(x, kernel, dy, y, act, wrt_logits, dk, db_obj, need_dx);
        return backward<double>(x, kernel, dy, y, act, wrt_logits, dk, db_obj, need_dx);
      },
      py::arg("x"), py::arg("kernel"), py::arg("d_outputs"), py::arg("outputs"),
      py::arg("activation"), py::arg("wrt_logits"), py::arg("d_kernel"), py::arg("d_bias"),
      py::arg("need_dx") = true,
      "Dense backward: writes d_kernel [K,U] and d_bias [U] (None: no bias) in place and "
      "returns dx [N,K] (None when need_dx is False). wrt_logits: d_outputs is d loss/d z.");
  m.def(
      "binary_crossentropy",
      [](const py::object& y_obj, const py::object& p_obj, bool from_logits,
         double scale) -> py::tuple {
        const py::dtype dt = float_dtype(p_obj, "y_pred");
        auto p = py::reinterpret_borrow<py::array>(p_obj);
        if (p.ndim() < 1)
          throw py::value_error("y_pred: expected at least one dimension, got a scalar");
        if (!(p.flags() & py::array::c_style))
          throw py::value_error("y_pred: expected a C-contiguous array");
        if (!py::isinstance<py::array>(y_obj))
          throw py::type_error("y_true: expected a NumPy array");
        auto y = py::reinterpret_borrow<py::array>(y_obj);
        if (y.dtype().num() != dt.num())
          throw py::type_error("y_true: expected dtype " + std::string(py::str(dt)) +
                               " (the dtype of y_pred), got " + std::string(py::str(y.dtype())));
        bool same = y.ndim() == p.ndim();
        for (py::ssize_t i = 0; same && i < p.ndim(); ++i) same = y.shape(i) == p.shape(i);
        if (!same)
          throw py::value_error("y_true: expected the shape of y_pred " + shape_str(p) +
                                ", got " + shape_str(y));
        if (!(y.flags() & py::array::c_style))
          throw py::value_error("y_true: expected a C-contiguous array");
        if (dt.num() == py::dtype::of<float>().num()) return bce<float>(y, p, from_logits, scale);
        return bce<double>(y, p, from_logits, scale);
      },
      py::arg("y_true"), py::arg("y_pred"), py::arg("from_logits"), py::arg("scale"),
      "Binary crossentropy (Keras formulas, mean over the last axis per sample): returns "
      "(scale * sum of per-sample losses, scale * its gradient w.r.t. y_pred).");
}
