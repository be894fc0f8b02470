// Machinery shared by the cells: Eigen views, batch partitioning, the input projection,
// the recurrent projection with dropout groups, output/mask routing, and the weight-gradient
// GEMMs that run after the time loop. Internal to the library.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cstring>

#include "fastrnn/rnn.hpp"
#include "gemm.hpp"

#ifdef FASTRNN_OPENMP
#include <omp.h>
#endif

namespace fastrnn {
namespace detail {

template <typename T> using RowMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <typename T> using RowArr = Eigen::Array<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <typename T> using Mat = Eigen::Map<RowMat<T>, Eigen::Unaligned, Eigen::OuterStride<>>;
template <typename T> using CMat = Eigen::Map<const RowMat<T>, Eigen::Unaligned, Eigen::OuterStride<>>;
template <typename T> using Arr = Eigen::Map<RowArr<T>, Eigen::Unaligned, Eigen::OuterStride<>>;
template <typename T> using CArr = Eigen::Map<const RowArr<T>, Eigen::Unaligned, Eigen::OuterStride<>>;
template <typename T> using CRow = Eigen::Map<const Eigen::Array<T, 1, Eigen::Dynamic>>;

// rows x cols view with leading dimension ld (elements between row starts).
template <typename T> inline Mat<T> mat(T* p, index_t r, index_t c, index_t ld) { return Mat<T>(p, r, c, Eigen::OuterStride<>(ld)); }
template <typename T> inline CMat<T> cmat(const T* p, index_t r, index_t c, index_t ld) { return CMat<T>(p, r, c, Eigen::OuterStride<>(ld)); }
template <typename T> inline Arr<T> arr(T* p, index_t r, index_t c, index_t ld) { return Arr<T>(p, r, c, Eigen::OuterStride<>(ld)); }
template <typename T> inline CArr<T> carr(const T* p, index_t r, index_t c, index_t ld) { return CArr<T>(p, r, c, Eigen::OuterStride<>(ld)); }

// Sizes of one problem, with the step -> input-time mapping.
struct Geo {
  index_t B, T, D, H, G, GH;
  bool backwards;
  Geo(const RnnSpec& s, int gates)
      : B(s.batch), T(s.steps), D(s.input), H(s.hidden), G(gates), GH(gates * s.hidden),
        backwards(s.go_backwards) {}
  index_t tin(index_t step) const { return backwards ? T - 1 - step : step; }
};

// Hands out consecutive slices of a caller-owned buffer, each starting on a 64-byte boundary
// (relative to a 64-byte-aligned base), so that Eigen's alignment-dependent code paths, and
// with them the rounding of results, do not change from call to call.
constexpr std::size_t kSliceAlign = 64;
constexpr std::size_t kCarveSlack = 2048;  // elements reserved for the rounding, per buffer

template <typename T>
struct Carver {
  T* p;
  T* take(std::size_t n) {
    const std::size_t step = kSliceAlign / sizeof(T);
    T* r = p;
    p += (n + step - 1) / step * step;
    return r;
  }
};

// The contiguous block of batch rows owned by the calling thread.
struct Block { index_t b0, nb; };
inline Block my_block(index_t B) {
#ifdef FASTRNN_OPENMP
  const index_t nt = omp_get_num_threads(), id = omp_get_thread_num();
#else
  const index_t nt = 1, id = 0;
#endif
  const index_t base = B / nt, extra = B % nt;
  const index_t b0 = id * base + std::min(id, extra);
  return {b0, base + (id < extra ? 1 : 0)};
}

inline int thread_index() {
#ifdef FASTRNN_OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

// Columns of gate-group g when `groups` masks cover G*H columns.
inline index_t group_width(const Geo& g, int groups) { return groups <= 1 ? g.GH : g.H * (g.G / groups); }

// Dropout masks are per sample and constant over time, so a sample's masked product folds
// into its weight: (x_b * m_k[b]) @ W_k = x_b @ (diag(m_k[b]) W_k). The masked GEMMs below
// therefore run one sample at a time on a folded weight (or fold the mask into a sample's
// weight-gradient product), instead of copying masked [T, rows] inputs per group.
//
// out[r, c] += src[r, c] * m_k[b, r] for columns c in [c0, c1), k the column's group.
// src, out: [rows, GH] (ld GH); mask: [groups, B, rows].
template <typename T>
void fold_sample_mask(const Geo& g, index_t rows, const T* src, const T* mask, int groups,
                      index_t b, index_t c0, index_t c1, T* out) {
  const index_t cw = group_width(g, groups);
  for (int k = 0; k < groups; ++k) {
    const index_t lo = std::max(c0, k * cw), hi = std::min(c1, (k + 1) * cw);
    if (lo >= hi) continue;
    const T* m = mask + (k * g.B + b) * rows;
    for (index_t r = 0; r < rows; ++r) {
      const T s = m[r];
      const T* in = src + r * g.GH;
      T* o = out + r * g.GH;
      for (index_t c = lo; c < hi; ++c) o[c] += in[c] * s;
    }
  }
}

// The kernel W [D,GH] packed as the right operand of x @ W (pack_b(D, GH)); with `m` (sample
// b's input mask of group 0, groups > 0) element (d, c) is W[d,c] * m_group(c)[b, d].
template <typename T>
void pack_kernel(const Geo& g, const T* W, const T* m, int groups, T* out) {
  constexpr int NR = Simd<T>::NR;
  const index_t cw = group_width(g, groups), gstride = g.B * g.D;
  for (index_t p = 0; p < panels_for(g.GH, NR); ++p) {
    const T* mc[NR];  // each column's mask row (null: padding or no mask)
    for (int j = 0; j < NR; ++j) {
      const index_t col = p * NR + j;
      mc[j] = (m && col < g.GH) ? m + (col / cw) * gstride : nullptr;
    }
    for (index_t d = 0; d < g.D; ++d) {
      T* dst = out + (p * g.D + d) * NR;
      for (int j = 0; j < NR; ++j) {
        const index_t col = p * NR + j;
        dst[j] = col >= g.GH ? T(0) : mc[j] ? W[d * g.GH + col] * mc[j][d] : W[d * g.GH + col];
      }
    }
  }
}

// W^T [GH,D] packed as the right operand of dG @ W^T (pack_b(GH, D)); with `m`, element (c, d)
// is W[d,c] * m_group(c)[b, d].
template <typename T>
void pack_kernel_t(const Geo& g, const T* W, const T* m, int groups, T* out) {
  constexpr int NR = Simd<T>::NR;
  const index_t cw = group_width(g, groups), gstride = g.B * g.D;
  for (index_t p = 0; p < panels_for(g.D, NR); ++p)
    for (index_t c = 0; c < g.GH; ++c) {
      const T* mk = m ? m + (c / cw) * gstride : nullptr;
      T* dst = out + (p * g.GH + c) * NR;
      for (int j = 0; j < NR; ++j) {
        const index_t d = p * NR + j;
        dst[j] = d >= g.D ? T(0) : mk ? W[d * g.GH + c] * mk[d] : W[d * g.GH + c];
      }
    }
}

// Per-thread scratch of the weight GEMMs (Carver slices, in this order): a packed kernel or
// kernel transpose, and with dropout masks one sample's [max(D,H), GH] weight-gradient product.
inline std::size_t thread_scratch_size(const RnnSpec& s) {
  const index_t D = s.input, H = s.hidden, GH = num_gates(s.cell) * H;
  const std::size_t pack = std::max(packed_size<float>(D, GH), packed_size<float>(GH, D));
  const std::size_t n = pack + std::max(D, H) * GH + 2 * kSliceAlign;
  return (n + kSliceAlign - 1) / kSliceAlign * kSliceAlign;  // keeps every slice aligned
}

template <typename T>
struct ThreadScratch {
  T *pack, *prod;
  ThreadScratch(const Geo& g, T* base) {
    Carver<T> c{base};
    pack = c.take(std::max(packed_size<T>(g.D, g.GH), packed_size<T>(g.GH, g.D)));
    prod = c.take(std::max(g.D, g.H) * g.GH);
  }
};

// The GEMMs below run on one thread's block of samples: rows [b0*T, (b0+nb)*T) of the
// [B*T, *] arrays, which are contiguous. Full-array base pointers are passed, except
// `scratch`, the thread's own thread_scratch_size slice. They use gemm_rows/gemm_tn
// (gemm.hpp): tall-and-skinny products that Eigen would first copy in full.

// xproj[rows, GH] = sum over dropout groups of (x * m_g) @ W[:, cols_g]. No bias. `packed`:
// W as pack_kernel(g, W, nullptr, 0) wrote it, or null.
template <typename T>
void input_projection(const Geo& g, const Block& blk, const T* x, const T* W, const T* in_mask,
                      int groups, T* xproj, T* scratch, const T* packed = nullptr) {
  const ThreadScratch<T> sc(g, scratch);
  if (groups == 0) {
    if (!packed) pack_kernel<T>(g, W, nullptr, 0, sc.pack);
    const index_t r0 = blk.b0 * g.T;
    gemm_rows(x + r0 * g.D, g.D, blk.nb * g.T, g.D, packed ? packed : sc.pack, g.GH,
              xproj + r0 * g.GH, g.GH, false);
    return;
  }
  for (index_t b = blk.b0; b < blk.b0 + blk.nb; ++b) {
    pack_kernel<T>(g, W, in_mask + b * g.D, groups, sc.pack);
    gemm_rows(x + b * g.T * g.D, g.D, g.T, g.D, sc.pack, g.GH, xproj + b * g.T * g.GH, g.GH, false);
  }
}

// out[nb, c0:c1] = sum_g (h * rm_g) @ U[:, cols_g ∩ [c0,c1)] for one thread's rows.
// h [nb,H] (ld H); U packed per gate; rmask points at row b0 of group 0 ([groups,B,H]);
// hd scratch [nb,H]. out has leading dim G*H.
template <typename T>
void recurrent_projection(const Geo& g, const T* h, index_t nb, const GatePacks<T>& U, index_t c0,
                          index_t c1, const T* rmask, int groups, T* out, T* hd) {
  const index_t cw = groups == 0 ? g.GH : group_width(g, groups);
  for (int k = 0; k < std::max(groups, 1); ++k) {
    const index_t lo = std::max(c0, k * cw), hi = std::min(c1, (k + 1) * cw);
    if (lo >= hi) continue;
    const T* a = h;
    if (groups) {
      arr(hd, nb, g.H, g.H) = carr(h, nb, g.H, g.H) * carr(rmask + k * g.B * g.H, nb, g.H, g.H);
      a = hd;
    }
    for (index_t gate = lo / g.H; gate < hi / g.H; ++gate)
      gemm_packed(a, g.H, nb, g.H, U.gate(gate), g.H, out + gate * g.H, g.GH, false);
  }
}

// dh[nb,H] += sum_g (dG[:, cols_g ∩ [c0,c1)] @ U[:, same]^T) * rm_g. dG has leading dim ldg;
// Ut holds U_g^T per gate. tmp scratch [nb,H].
template <typename T>
void recurrent_backprop(const Geo& g, const T* dG, index_t ldg, index_t nb, const GatePacks<T>& Ut,
                        index_t c0, index_t c1, const T* rmask, int groups, T* dh, T* tmp) {
  const index_t cw = groups == 0 ? g.GH : group_width(g, groups);
  for (int k = 0; k < std::max(groups, 1); ++k) {
    const index_t lo = std::max(c0, k * cw), hi = std::min(c1, (k + 1) * cw);
    if (lo >= hi) continue;
    T* dst = groups ? tmp : dh;
    for (index_t gate = lo / g.H; gate < hi / g.H; ++gate)
      gemm_packed(dG + gate * g.H, ldg, nb, g.H, Ut.gate(gate), g.H, dst, g.H,
                  !groups || gate > lo / g.H);
    if (groups)
      arr(dh, nb, g.H, g.H) += carr(tmp, nb, g.H, g.H) * carr(rmask + k * g.B * g.H, nb, g.H, g.H);
  }
}

// The block's share of dW = sum_g (x*m_g)^T dG[:, cols_g] (written to dW, a [D,GH] partial),
// and its rows of dx = sum_g (dG_g W_g^T) * m_g (dx may be null). dG [B*T, GH].
template <typename T>
void input_backprop(const Geo& g, const Block& blk, const T* x, const T* W, const T* in_mask,
                    int groups, const T* dG, T* dW, T* dx, T* scratch) {
  const ThreadScratch<T> sc(g, scratch);
  if (groups == 0) {
    const index_t r0 = blk.b0 * g.T, n = blk.nb * g.T;
    gemm_tn(x + r0 * g.D, g.D, n, g.D, dG + r0 * g.GH, g.GH, g.GH, dW, g.GH);
    if (dx) {
      pack_kernel_t<T>(g, W, nullptr, 0, sc.pack);
      gemm_rows(dG + r0 * g.GH, g.GH, n, g.GH, sc.pack, g.D, dx + r0 * g.D, g.D, false);
    }
    return;
  }
  std::fill(dW, dW + g.D * g.GH, T(0));
  for (index_t b = blk.b0; b < blk.b0 + blk.nb; ++b) {
    const T* dGb = dG + b * g.T * g.GH;
    gemm_tn(x + b * g.T * g.D, g.D, g.T, g.D, dGb, g.GH, g.GH, sc.prod, g.GH);
    fold_sample_mask(g, g.D, sc.prod, in_mask, groups, b, 0, g.GH, dW);
    if (dx) {
      pack_kernel_t<T>(g, W, in_mask + b * g.D, groups, sc.pack);
      gemm_rows(dGb, g.GH, g.T, g.GH, sc.pack, g.D, dx + b * g.T * g.D, g.D, false);
    }
  }
}

// The block's share of dU[:, c0:c1] = sum_g (hp*rm_g)^T dG[:, cols_g ∩ [c0,c1)], written to a
// [H,GH] partial. hp [B*T,H] is the recurrent matmul's left operand before dropout; dG has
// leading dim ldg.
template <typename T>
void recurrent_weight_grad(const Geo& g, const Block& blk, const T* hp, const T* rmask, int groups,
                           const T* dG, index_t ldg, index_t c0, index_t c1, T* dU, T* scratch) {
  if (groups == 0) {
    const index_t r0 = blk.b0 * g.T;
    gemm_tn(hp + r0 * g.H, g.H, blk.nb * g.T, g.H, dG + r0 * ldg + c0, ldg, c1 - c0, dU + c0, g.GH);
    return;
  }
  const ThreadScratch<T> sc(g, scratch);
  for (index_t r = 0; r < g.H; ++r) std::fill(dU + r * g.GH + c0, dU + r * g.GH + c1, T(0));
  for (index_t b = blk.b0; b < blk.b0 + blk.nb; ++b) {
    gemm_tn(hp + b * g.T * g.H, g.H, g.T, g.H, dG + b * g.T * ldg + c0, ldg, c1 - c0,
            sc.prod + c0, g.GH);
    fold_sample_mask(g, g.H, sc.prod, rmask, groups, b, c0, c1, dU);
  }
}

// The block's share of db[c] = sum over its rows of dG[:, c], for n columns (written).
// Row by row (contiguous, vectorised; a column-wise reduction of the row-major dG strides
// through all of it once per column), in chunks of kBiasChunk rows whose sums are then added
// in order, which keeps the float rounding close to a pairwise sum.
constexpr index_t kBiasChunk = 64;
template <typename T>
void bias_grad(const Geo& g, const Block& blk, const T* dG, index_t ldg, index_t n, T* db) {
  using RowV = Eigen::Array<T, 1, Eigen::Dynamic>;
  using CRowMap = Eigen::Map<const RowV>;
  Eigen::Map<RowV> total(db, n);
  total.setZero();
  RowV chunk(n);  // outside the time loop: runs once per block after it
  const T* p = dG + blk.b0 * g.T * ldg;
  const index_t rows = blk.nb * g.T;
  for (index_t r0 = 0; r0 < rows; r0 += kBiasChunk) {
    chunk = CRowMap(p + r0 * ldg, n);
    for (index_t r = r0 + 1; r < std::min(rows, r0 + kBiasChunk); ++r) chunk += CRowMap(p + r * ldg, n);
    total += chunk;
  }
}

// ---- per-step routing of states, outputs and masks (one thread's rows) ----

// Forward: after a cell produced new states hn (and cn), commit them.
// Valid rows: states <- new, output <- hn, last <- hn. Masked rows: states kept, output <- 0
// (zero_output_for_mask or no valid step yet) or the last output.
// Pointers are at the block's first row; y and the mask have row strides T*H and T.
template <typename T>
struct StepIO {
  const std::uint8_t* m;  // mask of row b0 at this input time (stride T), or null
  T* y;                   // outputs[b0, step] (stride T*H), or null
  T* last;                // last output per row [nb,H], or null when no mask
};

template <typename T>
void commit_forward(const Geo& g, index_t nb, const StepIO<T>& io, bool zero_out,
                    T*& h, T*& hn, T*& c, T*& cn) {
  const index_t H = g.H;
  if (!io.m) {
    std::swap(h, hn);
    if (c) std::swap(c, cn);
    if (io.y) arr(io.y, nb, H, g.T * H) = carr(h, nb, H, H);
    return;
  }
  for (index_t r = 0; r < nb; ++r) {
    T* yr = io.y ? io.y + r * g.T * H : nullptr;
    if (io.m[r * g.T]) {
      std::memcpy(h + r * H, hn + r * H, H * sizeof(T));
      if (c) std::memcpy(c + r * H, cn + r * H, H * sizeof(T));
      if (io.last) std::memcpy(io.last + r * H, hn + r * H, H * sizeof(T));
      if (yr) std::memcpy(yr, hn + r * H, H * sizeof(T));
    } else if (yr) {
      if (zero_out) std::fill(yr, yr + H, T(0));
      else std::memcpy(yr, io.last + r * H, H * sizeof(T));
    }
  }
}

// Backward, before the cell: dht = total gradient reaching the new h at this step.
// dh: carried state gradient; dy: outputs grad row (stride T*H) or null; dlast: d_last rows
// (only at the last step) or null; dyc: output-carry accumulator [nb,H] (masked, !zero_out).
template <typename T>
void gather_dh(const Geo& g, index_t nb, const std::uint8_t* m, bool zero_out, const T* dh,
               const T* dy, const T* dlast, T* dyc, T* dht) {
  const index_t H = g.H;
  auto D = arr(dht, nb, H, H);
  D = carr(dh, nb, H, H);
  if (dy) D += carr(dy, nb, H, g.T * H);
  if (dlast) D += carr(dlast, nb, H, H);
  if (!m) return;
  for (index_t r = 0; r < nb; ++r) {
    T* row = dht + r * H;
    if (m[r * g.T]) {
      if (dyc) {
        for (index_t j = 0; j < H; ++j) row[j] += dyc[r * H + j];
        std::fill(dyc + r * H, dyc + (r + 1) * H, T(0));
      }
    } else if (dyc && !zero_out) {
      // The output gradient at a masked step flows to the last valid output.
      for (index_t j = 0; j < H; ++j) dyc[r * H + j] += row[j] - dh[r * H + j];
    }
  }
}

// Backward, after the cell: valid rows take the new carried gradients; masked rows keep
// theirs and get a zero gate gradient (they did not compute anything that was used).
// dG2_rows: an optional second gate-gradient array with the same row layout (GRU).
template <typename T>
void commit_backward(const Geo& g, index_t nb, const std::uint8_t* m, T*& dh, T*& dhp, T*& dc,
                     T*& dcp, T* dG_rows, index_t ldg, index_t ncols, T* dG2_rows = nullptr) {
  const index_t H = g.H;
  if (!m) {
    std::swap(dh, dhp);
    if (dc) std::swap(dc, dcp);
    return;
  }
  for (index_t r = 0; r < nb; ++r) {
    if (m[r * g.T]) {
      std::memcpy(dh + r * H, dhp + r * H, H * sizeof(T));
      if (dc) std::memcpy(dc + r * H, dcp + r * H, H * sizeof(T));
    } else {
      std::fill(dG_rows + r * ldg, dG_rows + r * ldg + ncols, T(0));
      if (dG2_rows) std::fill(dG2_rows + r * ldg, dG2_rows + r * ldg + ncols, T(0));
    }
  }
}

// Copies rows of a [B,H] array (or zeros when src is null) into dst for one block.
template <typename T>
void load_rows(const T* src, index_t b0, index_t nb, index_t H, T* dst) {
  if (src) std::memcpy(dst, src + b0 * H, nb * H * sizeof(T));
  else std::fill(dst, dst + nb * H, T(0));
}

template <typename T>
void store_rows(const T* src, index_t b0, index_t nb, index_t H, T* dst) {
  if (dst) std::memcpy(dst + b0 * H, src, nb * H * sizeof(T));
}

}  // namespace detail
}  // namespace fastrnn
