// Bindings of the Dense layer kernels and the binary crossentropy: check the arrays
// (arrays.hpp), allocate the outputs, release the GIL, compute.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>
#include <vector>

#include "fastrnn/dense.hpp"
#include "fastrnn/losses.hpp"
#include "arrays.hpp"
#include "scratch.hpp"

namespace py = pybind11;
using fastrnn::index_t;

namespace {

using namespace fastrnn_bindings;

constexpr const char* kSoftmax = "softmax";

// Dense's activations: the element-wise ones of FASTRNN_ACTIVATIONS, then softmax.
py::tuple dense_activations() {
  py::list out;
  for (int i = 0; i < fastrnn::kNumActivations; ++i)
    out.append(fastrnn::activation_name(static_cast<fastrnn::Activation>(i)));
  out.append(kSoftmax);
  return py::tuple(out);
}

fastrnn::DenseActivation parse(const std::string& name) {
  fastrnn::DenseActivation a;
  if (name == kSoftmax) a.softmax = true;
  else if (!fastrnn::activation_from_name(name.c_str(), &a.elementwise)) {
    std::string names;
    for (auto n : dense_activations())
      names += (names.empty() ? "'" : ", '") + std::string(py::str(n)) + "'";
    throw py::value_error("activation: expected one of " + names + ", got '" + name + "'");
  }
  return a;
}

template <typename T>
py::tuple forward(const py::array& x, const py::array& kernel, const py::object& bias,
                  fastrnn::DenseActivation act) {
  const index_t N = x.shape(0), K = x.shape(1), U = kernel.shape(1);
  const T* b = bias.is_none() ? nullptr : static_cast<const T*>(bias.cast<py::array>().data());
  py::array_t<T> z({N, U});
  const bool linear = act.linear();
  py::array_t<T> y = linear ? z : py::array_t<T>({N, U});
  const T* xp = static_cast<const T*>(x.data());
  const T* kp = static_cast<const T*>(kernel.data());
  T* zp = z.mutable_data();
  T* yp = y.mutable_data();
  T* sp = thread_scratch<T>(fastrnn::dense_scratch_size<T>(K, U));
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
  T* sp = thread_scratch<T>(fastrnn::dense_scratch_size<T>(K, U));
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
        auto x = check_array(x_obj, "x", {dt, {-1, -1}});
        auto kernel = check_array(kernel_obj, "kernel", {dt, {x.shape(1), -1}});
        if (!bias_obj.is_none()) check_array(bias_obj, "bias", {dt, {kernel.shape(1)}});
        if (is_float32(dt))
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
        auto x = check_array(x_obj, "x", {dt, {-1, -1}});
        auto kernel = check_array(kernel_obj, "kernel", {dt, {x.shape(1), -1}});
        const index_t N = x.shape(0), K = x.shape(1), U = kernel.shape(1);
        auto dy = check_array(dy_obj, "d_outputs", {dt, {N, U}});
        auto y = check_array(y_obj, "outputs", {dt, {N, U}});
        auto dk = check_array(dk_obj, "d_kernel", {dt, {K, U}, {}, Access::Write});
        if (!db_obj.is_none()) check_array(db_obj, "d_bias", {dt, {U}, {}, Access::Write});
        if (is_float32(dt))
          return backward<float>(x, kernel, dy, y, act, wrt_logits, dk, db_obj, need_dx);
        return backward<double>(x, kernel, dy, y, act, wrt_logits, dk, db_obj, need_dx);
      },
      py::arg("x"), py::arg("kernel"), py::arg("d_outputs"), py::arg("outputs"),
      py::arg("activation"), py::arg("wrt_logits"), py::arg("d_kernel"), py::arg("d_bias"),
      py::arg("need_dx") = true,
      "Dense backward: writes d_kernel [K,U] and d_bias [U] (None: no bias) in place and "
      "returns dx [N,K] (None when need_dx is False). wrt_logits: d_outputs is d loss/d z.");
  m.def("dense_activations", &dense_activations,
        "Names of the activations dense_forward/dense_backward compute natively.");
  m.def(
      "binary_crossentropy",
      [](const py::object& y_obj, const py::object& p_obj, bool from_logits,
         double scale) -> py::tuple {
        const py::dtype dt = float_dtype(p_obj, "y_pred");
        auto p = py::reinterpret_borrow<py::array>(p_obj);
        if (p.ndim() < 1)
          throw py::value_error("y_pred: expected at least one dimension, got a scalar");
        check_array(p, "y_pred", {dt, shape_of(p)});
        auto y = check_array(y_obj, "y_true", {dt, shape_of(p), "the dtype of y_pred",
                                                Access::Read, "the shape of y_pred"});
        if (is_float32(dt)) return bce<float>(y, p, from_logits, scale);
        return bce<double>(y, p, from_logits, scale);
      },
      py::arg("y_true"), py::arg("y_pred"), py::arg("from_logits"), py::arg("scale"),
      "Binary crossentropy (Keras formulas, mean over the last axis per sample): returns "
      "(scale * sum of per-sample losses, scale * its gradient w.r.t. y_pred).");
}
