// The bindings' one scratch facility: memory of the calling thread, grown on demand and kept
// for its next call, so that a training loop reuses warm pages every step. Slot tells apart
// buffers of one type that a call needs at the same time; contents on entry are undefined.
#pragma once

#include <cstddef>
#include <memory>

namespace fastrnn_bindings __attribute__((visibility("hidden"))) {

template <typename T, int Slot = 0>
T* thread_scratch(std::size_t n) {
  thread_local std::unique_ptr<T[]> buf;
  thread_local std::size_t cap = 0;
  if (cap < n) {
    buf.reset();
    cap = 0;
    buf.reset(new T[n]);
    cap = n;
  }
  return buf.get();
}

}  // namespace fastrnn_bindings
