// RnnKernel (fastrnn/kernel.hpp) on the low-level kernels of rnn.hpp, and its workspaces.
#include "fastrnn/kernel.hpp"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>
#include <type_traits>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "cells.hpp"
#include "quantized.hpp"
#include "workspace.hpp"

namespace fastrnn {
namespace detail {

void Workspace::Free::operator()(void* p) const { std::free(p); }

void* Workspace::reserve(std::size_t bytes) {
  if (cap_ < bytes) {
    constexpr std::size_t kHuge = std::size_t(2) << 20;
    const bool huge = bytes >= kHuge;
    const std::size_t align = huge ? kHuge : 64;
    const std::size_t size = (bytes + align - 1) / align * align;
    buf_.reset();
    cap_ = 0;
    void* p = std::aligned_alloc(align, size);
    if (!p) throw std::bad_alloc();
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (huge) madvise(p, size, MADV_HUGEPAGE);  // advisory: failure only costs speed
#endif
    buf_.reset(p);
    cap_ = size;
  }
  return buf_.get();
}

WorkspacePool& WorkspacePool::shared() {
  static WorkspacePool* pool = new WorkspacePool;  // never destroyed: calls may outlive exit
  return *pool;
}

WorkspacePool::Lease WorkspacePool::take() {
  std::unique_ptr<Workspace> ws;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!free_.empty()) {
      ws = std::move(free_.back());
      free_.pop_back();
    }
  }
  if (!ws) ws = std::make_unique<Workspace>();
  return Lease(*this, std::move(ws));
}

void WorkspacePool::give_back(std::unique_ptr<Workspace> ws) {
  std::lock_guard<std::mutex> lock(mutex_);
  free_.push_back(std::move(ws));
}

}  // namespace detail

template <typename T>
struct RnnKernel<T>::Impl {
  RnnSpec spec;
  RnnWeights<T> weights;
  bool bound = false;
  // The training forward's inputs and cache, for the backward.
  std::mutex training;  // held by a training forward or a backward while it runs
  detail::Workspace cache;
  RnnSpec trained;      // batch < 0: no training forward yet
  RnnWeights<T> trained_weights;
  const T* x = nullptr;
  const std::uint8_t* mask = nullptr;
  const T* input_dropout = nullptr;
  const T* recurrent_dropout = nullptr;
  // The weights packed for inference calls that reuse them (made by the first one).
  std::mutex packing;
  std::atomic<bool> packed_ready{false};
  detail::Workspace packed;
  const T* packed_data = nullptr;
  // Reduced precision: the weights quantised for it (made by the first call, as above).
  Precision precision = Precision::Float32;
  std::atomic<bool> quantized_ready{false};
  detail::quant::Weights quantized;

  const detail::quant::Weights& quantized_weights() {
    if (!quantized_ready.load(std::memory_order_acquire)) {
      std::lock_guard<std::mutex> lock(packing);
      if (!quantized_ready.load(std::memory_order_relaxed)) {
        const index_t G = cell_info(spec.cell).gates;
        if constexpr (std::is_same<T, float>::value) {
          quantized.U.pack(precision, weights.recurrent_kernel, spec.hidden, spec.hidden, G);
          quantized.W.pack(precision, weights.kernel, spec.input, spec.hidden, G);
        }
        quantized_ready.store(true, std::memory_order_release);
      }
    }
    return quantized;
  }

  const T* packed_weights() {
    if (!packed_ready.load(std::memory_order_acquire)) {
      std::lock_guard<std::mutex> lock(packing);
      if (!packed_ready.load(std::memory_order_relaxed)) {
        T* p = static_cast<T*>(packed.reserve(packed_weights_size(spec) * sizeof(T)));
        pack_weights(spec, weights.kernel, weights.recurrent_kernel, p);
        packed_data = p;
        packed_ready.store(true, std::memory_order_release);
      }
    }
    return packed_data;
  }

  // The spec of one call: the kernel's, with the call's sizes and its thread count (0: this
  // moment's get_num_threads()).
  RnnSpec call_spec(index_t batch, index_t steps, int in_groups, int rec_groups,
                    int threads) const {
    RnnSpec s = spec;
    s.batch = batch;
    s.steps = steps;
    s.input_dropout_groups = in_groups;
    s.recurrent_dropout_groups = rec_groups;
    s.threads = threads > 0 ? threads : get_num_threads();
    validate(s);
    return s;
  }
};

template <typename T>
RnnKernel<T>::RnnKernel(Cell cell, index_t input, index_t hidden, const RnnOptions& o)
    : impl_(std::make_unique<Impl>()) {
  RnnSpec& s = impl_->spec;
  static_cast<RnnOptions&>(s) = o;
  s.cell = cell;
  s.input = input;
  s.hidden = hidden;
  validate(s);
  impl_->trained.batch = -1;
}

template <typename T>
RnnKernel<T>::~RnnKernel() = default;

template <typename T>
const RnnSpec& RnnKernel<T>::spec() const { return impl_->spec; }

template <typename T>
void RnnKernel<T>::bind_weights(const RnnWeights<T>& w) {
  impl_->weights = w;
  impl_->bound = true;
  drop_packed_weights();
}

template <typename T>
void RnnKernel<T>::drop_packed_weights() {
  impl_->packed_ready.store(false, std::memory_order_release);
  impl_->quantized_ready.store(false, std::memory_order_release);
}

template <typename T>
void RnnKernel<T>::set_precision(Precision p) {
  if (p != Precision::Float32) {
    if (!std::is_same<T, float>::value)
      throw std::invalid_argument("RnnKernel: reduced precision needs a float32 kernel");
    RnnSpec s = impl_->spec;
    s.batch = s.steps = 1;
    // int8 sums of K products of (q + 128) in [0, 255] and q_w in [-127, 127] fit int32 up to
    // K = 66,000 (and the portable loop must not overflow).
    if (p == Precision::Int8 && std::max(s.input, s.hidden) > 65536)
      throw std::invalid_argument("RnnKernel: int8 needs input and units <= 65536");
    if (!detail::cell_ops(s.cell).fused(s))
      throw std::invalid_argument(std::string(cell().name) +
                                  ": no reduced-precision forward with these options "
                                  "(GRU needs reset_after=True)");
  }
  impl_->precision = p;
  drop_packed_weights();
}

template <typename T>
Precision RnnKernel<T>::precision() const { return impl_->precision; }

template <typename T>
const RnnWeights<T>& RnnKernel<T>::weights() const { return impl_->weights; }

template <typename T>
index_t RnnKernel<T>::trained_batch() const { return impl_->trained.batch; }

template <typename T>
index_t RnnKernel<T>::trained_steps() const { return impl_->trained.steps; }

template <typename T>
void RnnKernel<T>::forward(const KernelForward<T>& c) {
  Impl& k = *impl_;
  if (!k.bound) throw std::logic_error("RnnKernel: forward before bind_weights");
  const RnnSpec s =
      k.call_spec(c.batch, c.steps, c.input_dropout_groups, c.recurrent_dropout_groups, c.threads);
  const RnnWeights<T>& w = k.weights;
  ForwardArgs<T> a{c.x, w.kernel, w.recurrent_kernel, w.bias, c.h0, c.c0, c.mask,
                   c.input_dropout, c.recurrent_dropout, c.outputs, c.last_output, c.h_n,
                   c.c_n};  // in the field order of rnn.hpp
  if (k.precision != Precision::Float32) {
    if (c.training)
      throw std::logic_error("RnnKernel: training forward with reduced-precision weights "
                             "(set_precision(Float32) first)");
    if (c.input_dropout || c.recurrent_dropout)
      throw std::invalid_argument("RnnKernel: dropout with reduced-precision weights");
    if constexpr (std::is_same<T, float>::value) {
      auto lease = detail::WorkspacePool::shared().take();
      void* ws = (*lease).reserve(detail::quant::workspace_bytes(s, k.precision, cell().gates));
      detail::cell_ops(s.cell).quantized_forward(s, a, k.quantized_weights(), ws);
    }
    return;
  }
  std::unique_lock<std::mutex> lock(k.training, std::defer_lock);
  if (c.training) {
    if (!lock.try_lock())
      throw std::runtime_error("RnnKernel: a training forward or backward is already running");
    k.trained.batch = -1;  // the cache is invalid until this forward completes
    a.cache = static_cast<T*>(k.cache.reserve(cache_size(s) * sizeof(T)));
  }
  if (c.reuse_packed_weights && !c.training) a.packed_weights = k.packed_weights();
  auto lease = detail::WorkspacePool::shared().take();
  a.workspace = static_cast<T*>((*lease).reserve(forward_workspace_size(s) * sizeof(T)));
  detail::run_forward<T>(s, a);  // s validated by call_spec
  if (c.training) {
    k.trained = s;
    k.trained_weights = k.weights;
    k.x = c.x;
    k.mask = c.mask;
    k.input_dropout = c.input_dropout;
    k.recurrent_dropout = c.recurrent_dropout;
  }
}

template <typename T>
void RnnKernel<T>::backward(const KernelBackward<T>& c) {
  Impl& k = *impl_;
  std::unique_lock<std::mutex> lock(k.training, std::try_to_lock);
  if (!lock.owns_lock())
    throw std::runtime_error("RnnKernel: a training forward or backward is already running");
  if (k.trained.batch < 0) throw std::logic_error("RnnKernel: backward without a training forward");
  RnnSpec s = k.trained;
  s.threads = c.threads > 0 ? c.threads : get_num_threads();
  const RnnWeights<T>& w = k.trained_weights;
  const T* cache = static_cast<T*>(k.cache.reserve(cache_size(s) * sizeof(T)));
  BackwardArgs<T> a{k.x, w.kernel, w.recurrent_kernel, w.bias, k.mask, k.input_dropout,
                    k.recurrent_dropout, cache, c.d_outputs, c.d_last, c.d_h_n, c.d_c_n, c.d_x,
                    c.d_kernel, c.d_recurrent_kernel, c.d_bias, c.d_h0, c.d_c0};  // as above
  auto lease = detail::WorkspacePool::shared().take();
  a.workspace = static_cast<T*>((*lease).reserve(backward_workspace_size(s) * sizeof(T)));
  detail::run_backward<T>(s, a);  // s validated by the training forward
}

template class RnnKernel<float>;
template class RnnKernel<double>;

}  // namespace fastrnn
