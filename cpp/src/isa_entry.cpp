// One variant's table of the public API (isa.hpp), compiled with that variant's kernels and
// the same flags; FASTRNN_ISA_ENTRY names it (fastrnn_isa_<variant>). The functions it points
// to are the variant's own: partial linking makes them local to the variant's object.
#include "isa.hpp"

namespace fastrnn {
namespace detail {
namespace {

template <typename T>
constexpr KernelOps<T> kernel_ops() {
  using K = RnnKernel<T>;
  return {
      [](Cell cell, index_t input, index_t hidden, const RnnOptions& options) -> void* {
        return new K(cell, input, hidden, options);
      },
      [](void* k) { delete static_cast<K*>(k); },
      [](const void* k) -> const RnnSpec& { return static_cast<const K*>(k)->spec(); },
      [](void* k, const RnnWeights<T>& w) { static_cast<K*>(k)->bind_weights(w); },
      [](const void* k) -> const RnnWeights<T>& { return static_cast<const K*>(k)->weights(); },
      [](void* k) { static_cast<K*>(k)->drop_packed_weights(); },
      [](void* k, const KernelForward<T>& call) { static_cast<K*>(k)->forward(call); },
      [](void* k, const KernelBackward<T>& call) { static_cast<K*>(k)->backward(call); },
      [](const void* k) { return static_cast<const K*>(k)->trained_batch(); },
      [](const void* k) { return static_cast<const K*>(k)->trained_steps(); },
      [](void* k, Precision p) { static_cast<K*>(k)->set_precision(p); },
      [](const void* k) { return static_cast<const K*>(k)->precision(); },
  };
}

}  // namespace
}  // namespace detail
}  // namespace fastrnn

extern "C" __attribute__((visibility("default")))
const fastrnn::detail::IsaTable FASTRNN_ISA_ENTRY = {
#define FASTRNN_ISA_ADDRESS(field, ret, params, args, ...) &fastrnn::__VA_ARGS__,
    FASTRNN_ISA_API(FASTRNN_ISA_ADDRESS, FASTRNN_ISA_ADDRESS)
#undef FASTRNN_ISA_ADDRESS
    fastrnn::detail::kernel_ops<float>(),
    fastrnn::detail::kernel_ops<double>(),
};
