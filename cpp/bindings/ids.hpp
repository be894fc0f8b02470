// Token-id checks shared by the embedding and sparse-optimizer bindings.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>

#include "fastrnn/common.hpp"

namespace fastrnn_bindings {

// Every value of ids (C-contiguous int32/int64) must lie in [0, V): else IndexError naming
// the first bad id and its flat position.
template <typename I, int Flags>
void check_ids(const pybind11::array_t<I, Flags>& ids, fastrnn::index_t V) {
  const I* p = ids.data();
  const fastrnn::index_t n = ids.size();
  for (fastrnn::index_t i = 0; i < n; ++i) {
    if (p[i] < 0 || p[i] >= V) {
      throw pybind11::index_error(
          "ids: token id " + std::to_string(static_cast<long long>(p[i])) +
          " at flat position " + std::to_string(i) + " is out of range [0, " +
          std::to_string(V) + ")");
    }
  }
}

}  // namespace fastrnn_bindings
