// The public API of a portable build: each function calls the chosen variant's (isa.hpp).
// Compiled once, for the baseline; the variants' definitions of the same names are local to
// their objects, so these are the only ones a caller links to.
#include <memory>

#include "isa.hpp"

namespace fastrnn {

#define FASTRNN_ISA_FORWARD(field, ret, params, args, ...) \
  ret __VA_ARGS__ params { return detail::active_isa().field args; }
#define FASTRNN_ISA_FORWARD_T(field, ret, params, args, ...) \
  template <>                                                \
  FASTRNN_ISA_FORWARD(field, ret, params, args, __VA_ARGS__)
FASTRNN_ISA_API(FASTRNN_ISA_FORWARD, FASTRNN_ISA_FORWARD_T)
#undef FASTRNN_ISA_FORWARD_T
#undef FASTRNN_ISA_FORWARD

namespace {
template <typename T>
const detail::KernelOps<T>& kernel_ops();
template <>
const detail::KernelOps<float>& kernel_ops<float>() { return detail::active_isa().kernel_f32; }
template <>
const detail::KernelOps<double>& kernel_ops<double>() { return detail::active_isa().kernel_f64; }
}  // namespace

// The variant's RnnKernel, created by it and called through its table.
template <typename T>
struct RnnKernel<T>::Impl {
  const detail::KernelOps<T>& ops = kernel_ops<T>();
  void* kernel = nullptr;
  ~Impl() {
    if (kernel) ops.destroy(kernel);
  }
};

template <typename T>
RnnKernel<T>::RnnKernel(Cell cell, index_t input, index_t hidden, const RnnOptions& options)
    : impl_(std::make_unique<Impl>()) {
  impl_->kernel = impl_->ops.create(cell, input, hidden, options);
}

template <typename T>
RnnKernel<T>::~RnnKernel() = default;

template <typename T>
const RnnSpec& RnnKernel<T>::spec() const { return impl_->ops.spec(impl_->kernel); }

template <typename T>
void RnnKernel<T>::bind_weights(const RnnWeights<T>& w) {
  impl_->ops.bind_weights(impl_->kernel, w);
}

template <typename T>
const RnnWeights<T>& RnnKernel<T>::weights() const { return impl_->ops.weights(impl_->kernel); }

template <typename T>
void RnnKernel<T>::drop_packed_weights() { impl_->ops.drop_packed_weights(impl_->kernel); }

template <typename T>
void RnnKernel<T>::forward(const KernelForward<T>& call) { impl_->ops.forward(impl_->kernel, call); }

template <typename T>
void RnnKernel<T>::backward(const KernelBackward<T>& call) {
  impl_->ops.backward(impl_->kernel, call);
}

template <typename T>
index_t RnnKernel<T>::trained_batch() const { return impl_->ops.trained_batch(impl_->kernel); }

template <typename T>
index_t RnnKernel<T>::trained_steps() const { return impl_->ops.trained_steps(impl_->kernel); }

template <typename T>
void RnnKernel<T>::set_precision(Precision p) { impl_->ops.set_precision(impl_->kernel, p); }

template <typename T>
Precision RnnKernel<T>::precision() const { return impl_->ops.precision(impl_->kernel); }

template class RnnKernel<float>;
template class RnnKernel<double>;

}  // namespace fastrnn
