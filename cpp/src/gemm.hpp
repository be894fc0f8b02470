// The small per-step GEMM of the recurrence: C[M,N] (= or +=) A[M,K] * B[K,N], with B packed
// once per call into panels of NR columns (K rows of NR contiguous values, zero-padded), so
// no step re-packs the recurrent weights and nothing is allocated in the time loop.
// Register-blocked micro-kernel on GCC vector extensions: MR rows x 2 vectors.
#pragma once

#include <algorithm>
#include <cstring>

#include "fastrnn/common.hpp"

namespace fastrnn {
namespace detail {

#if defined(__AVX512F__)
constexpr int kVecBytes = 64;
constexpr int kMR = 8;
#else
constexpr int kVecBytes = 32;
constexpr int kMR = 4;
#endif

template <typename T>
struct Simd {
  typedef T vec __attribute__((vector_size(kVecBytes), aligned(sizeof(T))));
  static constexpr int W = kVecBytes / static_cast<int>(sizeof(T));
  static constexpr int NR = 2 * W;  // panel width
};

inline index_t panels_for(index_t n, index_t nr) { return (n + nr - 1) / nr; }

// Elements of one packed [K,N] operand.
template <typename T>
inline std::size_t packed_size(index_t K, index_t N) {
  return static_cast<std::size_t>(K) * panels_for(N, Simd<T>::NR) * Simd<T>::NR;
}

// Packs B[k][j] = at(k, j) for k < K, j < N.
template <typename T, typename At>
void pack_b(index_t K, index_t N, At at, T* out) {
  constexpr int NR = Simd<T>::NR;
  const index_t np = panels_for(N, NR);
  for (index_t p = 0; p < np; ++p)
    for (index_t k = 0; k < K; ++k) {
      T* dst = out + (p * K + k) * NR;
      for (int j = 0; j < NR; ++j) {
        const index_t col = p * NR + j;
        dst[j] = col < N ? at(k, col) : T(0);
      }
    }
}

template <typename T, int MR>
inline void micro_kernel(const T* A, index_t lda, index_t K, const T* Bp, T* C, index_t ldc,
                         index_t ncols, bool accumulate) {
  using V = typename Simd<T>::vec;
  constexpr int W = Simd<T>::W, NR = Simd<T>::NR;
  V c0[MR], c1[MR];
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) { c0[r] = V{}; c1[r] = V{}; }
  for (index_t k = 0; k < K; ++k) {
    const V b0 = *reinterpret_cast<const V*>(Bp + k * NR);
    const V b1 = *reinterpret_cast<const V*>(Bp + k * NR + W);
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      const T a = A[r * lda + k];
      c0[r] += a * b0;
      c1[r] += a * b1;
    }
  }
  if (ncols == NR) {
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      V* out = reinterpret_cast<V*>(C + r * ldc);
      if (accumulate) { out[0] += c0[r]; out[1] += c1[r]; }
      else { out[0] = c0[r]; out[1] = c1[r]; }
    }
    return;
  }
  for (int r = 0; r < MR; ++r) {  // last, partial panel
    T tmp[NR];
    std::memcpy(tmp, &c0[r], sizeof(V));
    std::memcpy(tmp + W, &c1[r], sizeof(V));
    T* out = C + r * ldc;
    for (index_t j = 0; j < ncols; ++j) out[j] = accumulate ? out[j] + tmp[j] : tmp[j];
  }
}

// C[M,N] (+)= A[M,K] * B, B packed by pack_b(K, N).
template <typename T>
void gemm_packed(const T* A, index_t lda, index_t M, index_t K, const T* Bp, index_t N, T* C,
                 index_t ldc, bool accumulate) {
  constexpr int NR = Simd<T>::NR;
  const index_t np = panels_for(N, NR);
  for (index_t p = 0; p < np; ++p) {
    const T* bp = Bp + p * K * NR;
    const index_t ncols = std::min<index_t>(NR, N - p * NR);
    index_t r = 0;
    for (; r + kMR <= M; r += kMR)
      micro_kernel<T, kMR>(A + r * lda, lda, K, bp, C + r * ldc + p * NR, ldc, ncols, accumulate);
    for (; r < M; ++r)
      micro_kernel<T, 1>(A + r * lda, lda, K, bp, C + r * ldc + p * NR, ldc, ncols, accumulate);
  }
}

// C[M,N] (+)= A[M,K] * B, B packed by pack_b(K, N), for tall A (all of a thread's [B*T] rows):
// the row blocks are the outer loop, so each kMR-row block of A comes from memory once and is
// reused from L1 for every panel. No packing of A (Eigen copies the whole of it first, which
// for the skinny K and N of recurrent layers costs about as much as the product).
template <typename T>
void gemm_rows(const T* A, index_t lda, index_t M, index_t K, const T* Bp, index_t N, T* C,
               index_t ldc, bool accumulate) {
  constexpr int NR = Simd<T>::NR;
  const index_t np = panels_for(N, NR);
  index_t r = 0;
  for (; r + kMR <= M; r += kMR)
    for (index_t p = 0; p < np; ++p)
      micro_kernel<T, kMR>(A + r * lda, lda, K, Bp + p * K * NR, C + r * ldc + p * NR, ldc,
                           std::min<index_t>(NR, N - p * NR), accumulate);
  for (; r < M; ++r)
    for (index_t p = 0; p < np; ++p)
      micro_kernel<T, 1>(A + r * lda, lda, K, Bp + p * K * NR, C + r * ldc + p * NR, ldc,
                         std::min<index_t>(NR, N - p * NR), accumulate);
}

// One register tile of gemm_tn: C[0:MT, 0:ncols] += sum over rows m in [m0, m1) of
// A[m, 0:MT]^T B[m, 0:ncols]. kFull: ncols == NR; else a partial panel, read through a
// zero-padded copy (kept out of the full-panel loop, which it would slow down).
template <typename T, int MT, bool kFull>
inline void tn_tile(const T* A, index_t lda, index_t m0, index_t m1, const T* B, index_t ldb,
                    index_t ncols, T* C, index_t ldc) {
  using V = typename Simd<T>::vec;
  constexpr int W = Simd<T>::W, NR = Simd<T>::NR;
  V c0[MT], c1[MT];
#pragma GCC unroll 8
  for (int r = 0; r < MT; ++r) { c0[r] = V{}; c1[r] = V{}; }
  alignas(64) T tmp[NR] = {};
  for (index_t m = m0; m < m1; ++m) {
    const T* b = B + m * ldb;
    if constexpr (!kFull) {
      std::memcpy(tmp, b, ncols * sizeof(T));
      b = tmp;
    }
    const V b0 = *reinterpret_cast<const V*>(b);
    const V b1 = *reinterpret_cast<const V*>(b + W);
    const T* a = A + m * lda;
#pragma GCC unroll 8
    for (int r = 0; r < MT; ++r) {
      c0[r] += a[r] * b0;
      c1[r] += a[r] * b1;
    }
  }
  for (int r = 0; r < MT; ++r) {
    T* out = C + r * ldc;
    if constexpr (kFull) {
      V* o = reinterpret_cast<V*>(out);
      o[0] += c0[r];
      o[1] += c1[r];
    } else {
      std::memcpy(tmp, &c0[r], sizeof(V));
      std::memcpy(tmp + W, &c1[r], sizeof(V));
      for (index_t j = 0; j < ncols; ++j) out[j] += tmp[j];
    }
  }
}

template <typename T, bool kFull>
inline void tn_panel(const T* A, index_t lda, index_t m0, index_t m1, index_t K, const T* B,
                     index_t ldb, index_t ncols, T* C, index_t ldc) {
  constexpr int MT = 8;
  index_t i = 0;
  for (; i + MT <= K; i += MT) tn_tile<T, MT, kFull>(A + i, lda, m0, m1, B, ldb, ncols, C + i * ldc, ldc);
  for (; i < K; ++i) tn_tile<T, 1, kFull>(A + i, lda, m0, m1, B, ldb, ncols, C + i * ldc, ldc);
}

// C[K,N] = A[M,K]^T B[M,N] (written), the weight-gradient product of a thread's rows (reduction
// over the M = rows*T axis). Rows are taken in chunks of kTnChunk: each chunk's sums build up
// in registers from zero and are then added to C, a two-level sum whose rounding stays close
// to a blocked GEMM's. A and B are read in place (no packing).
constexpr index_t kTnChunk = 256;
template <typename T>
void gemm_tn(const T* A, index_t lda, index_t M, index_t K, const T* B, index_t ldb, index_t N,
             T* C, index_t ldc) {
  constexpr int NR = Simd<T>::NR;
  for (index_t k = 0; k < K; ++k) std::fill(C + k * ldc, C + k * ldc + N, T(0));
  for (index_t m0 = 0; m0 < M; m0 += kTnChunk) {
    const index_t m1 = std::min(M, m0 + kTnChunk);
    for (index_t p = 0; p < N; p += NR) {
      if (N - p >= NR) tn_panel<T, true>(A, lda, m0, m1, K, B + p, ldb, NR, C + p, ldc);
      else tn_panel<T, false>(A, lda, m0, m1, K, B + p, ldb, N - p, C + p, ldc);
    }
  }
}

// The recurrent kernel U [H, G*H] packed gate by gate, for h @ U_g (forward) and for
// dG_g @ U_g^T (backward). Every column range the cells use is a union of whole gates.
template <typename T>
struct GatePacks {
  const T* data = nullptr;
  index_t H = 0;
  std::size_t per_gate = 0;
  const T* gate(index_t g) const { return data + g * per_gate; }
  static std::size_t size(index_t G, index_t H) { return G * packed_size<T>(H, H); }

  // transpose=false packs U_g (K=H rows of U, N=H columns); true packs U_g^T.
  static GatePacks pack(const T* U, index_t G, index_t H, bool transpose, T* out) {
    const index_t GH = G * H;
    const std::size_t per = packed_size<T>(H, H);
    for (index_t g = 0; g < G; ++g) {
      const T* Ug = U + g * H;
      if (transpose) pack_b<T>(H, H, [&](index_t k, index_t j) { return Ug[j * GH + k]; }, out + g * per);
      else pack_b<T>(H, H, [&](index_t k, index_t j) { return Ug[k * GH + j]; }, out + g * per);
    }
    return view(out, H);
  }
  // Packs made earlier by pack().
  static GatePacks view(const T* packed, index_t H) {
    GatePacks p;
    p.data = packed; p.H = H; p.per_gate = packed_size<T>(H, H);
    return p;
  }
};

}  // namespace detail
}  // namespace fastrnn
