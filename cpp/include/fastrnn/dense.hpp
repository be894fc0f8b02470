// Fully connected layer (Keras Dense) on row-major 2-D operands, forward and backward.
//
// Shapes: N rows (every leading axis of the Keras input flattened), K input features,
// U units. x [N,K], kernel [K,U], bias [U] (null: no bias), z and y [N,U].
//   forward   z = x kernel + bias;  y = act(z): any element-wise activation of
//             FASTRNN_ACTIVATIONS (common.hpp), or the row-wise softmax
//   backward  dz = dy * act'(z) (through y), or dz = dy when `wrt_logits` (the loss already
//             differentiated through a sigmoid/softmax output, as Keras does)
//             d_kernel = x^T dz, d_bias = sum over rows of dz, dx = dz kernel^T
// Every gradient is WRITTEN (overwritten), never accumulated; null d_bias / dx are skipped.
// The caller owns all memory: dz is caller scratch [N,U] that must not overlap dy, and
// scratch holds dense_scratch_size(K, U) elements (the packed kernel).
// Results do not depend on the thread count or on where the buffers lie in memory: every
// output element is summed in one fixed order by one thread.
#pragma once

#include <cstddef>

#include "fastrnn/common.hpp"

namespace fastrnn {

struct DenseActivation {
  Activation elementwise = Activation::Linear;  // when !softmax
  bool softmax = false;
  bool linear() const { return !softmax && elementwise == Activation::Linear; }
};

template <typename T>
std::size_t dense_scratch_size(index_t K, index_t U);

// y may equal z (then z is overwritten by the activation); when linear, y is not written
// when it equals z.
template <typename T>
void dense_forward(index_t N, index_t K, index_t U, const T* x, const T* kernel, const T* bias,
                   DenseActivation act, T* z, T* y, T* scratch);

template <typename T>
void dense_backward(index_t N, index_t K, index_t U, const T* x, const T* kernel, const T* dy,
                    const T* y, DenseActivation act, bool wrt_logits, T* dz, T* d_kernel,
                    T* d_bias, T* dx, T* scratch);

}  // namespace fastrnn
