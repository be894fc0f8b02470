// Binary crossentropy with Keras 3's formulas (TensorFlow backend), value and gradient in one
// pass, for the common training case: no mask, no sample weights.
//
// Shapes: N samples (every leading axis flattened), K values per sample. y (labels) and
// p (predictions, or logits when from_logits) are [N,K]; grad [N,K] is WRITTEN.
//   per-element loss, from logits z:  max(z,0) - z*y + log1p(exp(-|z|))
//                                     (tf.nn.sigmoid_cross_entropy_with_logits)
//                  from probabilities: p clipped to [1e-7, 1-1e-7]; -(y log p + (1-y) log(1-p))
//   per-sample loss = mean over the K values; the function returns
//   scale * (sum of the per-sample losses), summed in double,
//   grad = scale * d(sum of per-sample losses)/dp, i.e. scale/K * d(element loss)/dp
//   (from logits: sigmoid(z) - y; from probabilities: -(y/p) + (1-y)/(1-p) where p lies
//   inside the clip range, else 0, as the clip's gradient is).
// For Keras' default reduction ("sum_over_batch_size") scale = 1/N.
#pragma once

#include "fastrnn/common.hpp"

namespace fastrnn {

template <typename T>
double binary_crossentropy(index_t N, index_t K, const T* y, const T* p, bool from_logits,
                           T scale, T* grad);

}  // namespace fastrnn
