// The bindings' one array checker: every NumPy argument of fastrnn._core is checked here, once,
// with a TypeError/ValueError that names the argument and gives the expected and actual value.
// Shapes in messages are written like NumPy's: "(2, 3)", "(5,)", "()".
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>
#include <vector>

#include "fastrnn/common.hpp"

namespace fastrnn_bindings __attribute__((visibility("hidden"))) {

namespace py = pybind11;
using fastrnn::index_t;
using Shape = std::vector<index_t>;

inline Shape shape_of(const py::array& a) { return Shape(a.shape(), a.shape() + a.ndim()); }

inline std::string shape_str(const Shape& s) {
  std::string out = "(";
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + (s.size() == 1 ? ",)" : ")");
}

inline std::string shape_str(const py::array& a) { return shape_str(shape_of(a)); }

inline std::string type_name(const py::handle& obj) {
  return py::str(py::type::handle_of(obj).attr("__name__"));
}

// Same NumPy type and native byte order (dtype objects are not always singletons).
inline bool same_dtype(const py::dtype& a, const py::dtype& b) {
  return a.num() == b.num() && a.attr("isnative").cast<bool>();
}

// How the callee uses the array.
enum class Access {
  Read,    // input
  Write,   // output buffer: the result is written into it
  Update,  // read and written in place (weights, optimizer slots)
};

// What an argument must be. shape: -1 = any extent; dtype_note: why this dtype, e.g.
// "the dtype of x" (empty: nothing added); shape_name: what the shape is called in messages.
struct Expect {
  py::dtype dtype;
  Shape shape;
  std::string dtype_note = {};
  Access access = Access::Read;
  std::string shape_name = "shape";
};

// `obj` as the array `name` must be. Raises TypeError (not an array, wrong dtype) or
// ValueError (shape, layout, read-only).
inline py::array check_array(const py::handle& obj, const std::string& name, const Expect& e) {
  if (!py::isinstance<py::array>(obj))
    throw py::type_error(name + ": expected a NumPy array, got " + type_name(obj));
  auto a = py::reinterpret_borrow<py::array>(obj);
  if (!same_dtype(a.dtype(), e.dtype))
    throw py::type_error(name + ": expected dtype " + std::string(py::str(e.dtype)) +
                         (e.dtype_note.empty() ? "" : " (" + e.dtype_note + ")") + ", got " +
                         std::string(py::str(a.dtype())));
  bool ok = a.ndim() == static_cast<py::ssize_t>(e.shape.size()), any = false;
  for (std::size_t i = 0; i < e.shape.size(); ++i) {
    any = any || e.shape[i] < 0;
    ok = ok && (e.shape[i] < 0 || a.shape(i) == e.shape[i]);
  }
  if (!ok)
    throw py::value_error(name + ": expected " + e.shape_name + " " + shape_str(e.shape) +
                          (any ? " (-1: any extent)" : "") + ", got " + shape_str(a));
  const bool writes = e.access != Access::Read;
  if (!(a.flags() & py::array::c_style) || (writes && !a.writeable()))
    throw py::value_error(
        name + (e.access == Access::Read
                    ? ": expected a C-contiguous array (use np.ascontiguousarray)"
                : e.access == Access::Write
                    ? ": expected a writeable C-contiguous array (the result is written into it)"
                    : ": must be a writeable C-contiguous array (updated in place)"));
  return a;
}

// An absent optional array: a null handle (false in a condition, data_of gives null). A
// default-constructed py::array would be a real, empty array.
inline py::array no_array() { return py::reinterpret_steal<py::array>(py::handle()); }

// Like check_array, with None allowed (returns no_array()) or refused with the expected
// shape in the message.
inline py::array check_optional(const py::handle& obj, const std::string& name, const Expect& e,
                                bool optional = true) {
  if (obj.is_none()) {
    if (optional) return no_array();
    throw py::type_error(name + ": expected an array of shape " + shape_str(e.shape) +
                         ", got None");
  }
  return check_array(obj, name, e);
}

// A mask: bool or uint8 (1 = valid), of `shape`.
inline py::array check_mask(const py::handle& obj, const std::string& name, const Shape& shape) {
  if (!py::isinstance<py::array>(obj))
    throw py::type_error(name + ": expected a NumPy array, got " + type_name(obj));
  const py::dtype d = py::reinterpret_borrow<py::array>(obj).dtype();
  if (!same_dtype(d, py::dtype::of<bool>()) && !same_dtype(d, py::dtype::of<std::uint8_t>()))
    throw py::type_error(name + ": expected dtype bool or uint8, got " + std::string(py::str(d)));
  return check_array(obj, name, {d, shape});
}

// The float type of the argument `name` that fixes the others' dtype.
inline py::dtype float_dtype(const py::handle& obj, const std::string& name) {
  if (!py::isinstance<py::array>(obj))
    throw py::type_error(name + ": expected a NumPy array, got " + type_name(obj));
  auto d = py::reinterpret_borrow<py::array>(obj).dtype();
  if (!same_dtype(d, py::dtype::of<float>()) && !same_dtype(d, py::dtype::of<double>()))
    throw py::type_error(name + ": expected dtype float32 or float64, got " +
                         std::string(py::str(d)));
  return d;
}

inline bool is_float32(const py::dtype& d) { return d.num() == py::dtype::of<float>().num(); }

template <typename T>
const T* data_of(const py::array& a) { return a ? static_cast<const T*>(a.data()) : nullptr; }

template <typename T>
T* mutable_data_of(const py::array& a) {
  return a ? static_cast<T*>(const_cast<void*>(a.data())) : nullptr;
}

// Token ids (C-contiguous int32/int64): every value must lie in [0, V), else IndexError
// naming the first bad id and its flat position.
template <typename I, int Flags>
void check_ids(const py::array_t<I, Flags>& ids, index_t V) {
  const I* p = ids.data();
  const index_t n = ids.size();
  for (index_t i = 0; i < n; ++i) {
    if (p[i] < 0 || p[i] >= V) {
      throw py::index_error("ids: token id " + std::to_string(static_cast<long long>(p[i])) +
                            " at flat position " + std::to_string(i) + " is out of range [0, " +
                            std::to_string(V) + ")");
    }
  }
}

}  // namespace fastrnn_bindings
