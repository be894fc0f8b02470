// Embedding lookup and its gradient. N = number of ids, E = embedding width, V = rows.
#pragma once

#include "fastrnn/common.hpp"

namespace fastrnn {

// out[n,:] = table[ids[n],:]. ids must lie in [0,V) (checked by the caller).
// table [V,E], ids [N], out [N,E] (written).
template <typename T, typename I>
void embedding_forward(const T* table, index_t V, index_t E, const I* ids, index_t N, T* out);

// Sums the rows of d [N,E] that share an id. Writes the distinct ids in ascending order to
// uniq [<=N] and their sums to sums [<=N, E], and, when sq is not null, the sums of the
// squared rows to sq [<=N, E] (what Keras' RMSprop/Adam accumulate for repeated rows);
// returns how many distinct ids there are (U). slot: scratch [V]. Rows are added in order of n.
template <typename T, typename I>
index_t embedding_backward(const I* ids, index_t N, const T* d, index_t E, index_t V,
                           index_t* uniq, T* sums, T* sq, index_t* slot);

}  // namespace fastrnn
