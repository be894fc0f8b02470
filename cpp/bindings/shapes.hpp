// Shapes in the bindings' error messages, written like NumPy's: "(2, 3)", "(5,)", "()".
#pragma once

#include <pybind11/numpy.h>

#include <string>
#include <vector>

#include "fastrnn/common.hpp"

namespace fastrnn_bindings {

inline std::vector<fastrnn::index_t> shape_of(const pybind11::array& a) {
  return std::vector<fastrnn::index_t>(a.shape(), a.shape() + a.ndim());
}

inline std::string shape_str(const std::vector<fastrnn::index_t>& s) {
  std::string out = "(";
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + (s.size() == 1 ? ",)" : ")");
}

inline std::string shape_str(const pybind11::array& a) { return shape_str(shape_of(a)); }

}  // namespace fastrnn_bindings
