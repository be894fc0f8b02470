// The fused forward pass: every cell computation of a step happens in registers, right after
// the recurrent product of the same unit block, and the input projection is laid out so that
// a step reads one contiguous block. Used for training (writing the usual cache, which the
// backward of loop.hpp reads) and inference (no cache) alike, whenever the cell supports it
// (CellT::fused(spec): no recurrent dropout, plus the cell's own conditions).
//
// Unit blocks: the H units are cut into nub = ceil(H/W) blocks of W units (W: lanes of a
// vector); a block's G gates are G vectors. Weights [K, G*H] (Keras column order) are packed
// as one panel per unit block, K rows of G*W values (row k, gate g, lane l: M[k, g*H + u*W + l],
// zero past H), so that one micro-kernel tile computes all gates of the same units and the
// cell's element-wise work follows in registers (cells: `block`, their epilogue). The input
// projection x W + bias is time-major [T, B, nub*G*W] in the same order.
//
// Threads split the work in one of two ways, fixed per call:
//   rows:    each thread owns a block of batch rows, all units, for all steps: no barrier
//            inside the time loop (the batch is large enough to feed every thread);
//   columns: each thread owns a range of unit blocks, all rows: its share of the recurrent
//            weights stays in its own cache, at the price of one barrier per step (every
//            thread reads all of h). Used for small batches (batch 1: the only way to use
//            more than one core) and for large H, where a thread's share of U would not fit
//            in its L2 otherwise; never for steps too small to hide the barrier.
// Each output element is computed by the same instructions whichever way the work is split
// (the products sum over k in order; element-wise work is per lane), so results do not depend
// on the thread count.
#pragma once

#include <algorithm>
#include <type_traits>

#include "barrier.hpp"
#include "loop.hpp"
#include "simd.hpp"

namespace fastrnn {
namespace detail {

struct Units {
  index_t H, G, W, nub, Hp;
  Units(index_t h, index_t gates, index_t w)
      : H(h), G(gates), W(w), nub((h + w - 1) / w), Hp(((h + w - 1) / w) * w) {}
  index_t block() const { return G * W; }    // values of one unit block in a projection row
  index_t row() const { return nub * G * W; }  // values of a projection row
  std::size_t panel(index_t K) const { return static_cast<std::size_t>(K) * G * W; }
  index_t lanes(index_t u) const { return std::min(W, H - u * W); }
};

// Packed weights (pack_units): unit block u, row k, gate g at base + u*us + (k*G + g)*W.
template <typename T>
struct UnitWeights {
  const T* base;
  index_t us;
};

// Panels [u0, u1) of the [K, G*H] matrix at(k, col), zero past H.
template <typename T, typename At>
void pack_units(const Units& un, index_t K, index_t u0, index_t u1, At at, T* out) {
  for (index_t u = u0; u < u1; ++u) {
    T* p = out + u * un.panel(K);
    for (index_t k = 0; k < K; ++k)
      for (index_t g = 0; g < un.G; ++g)
        for (index_t l = 0; l < un.W; ++l) {
          const index_t j = u * un.W + l;
          *p++ = j < un.H ? at(k, g * un.H + j) : T(0);
        }
  }
}

// The same for a row-major M [K, G*H] (ld G*H), full blocks copied a vector at a time.
template <typename T>
void pack_units(const Units& un, index_t K, index_t u0, index_t u1, const T* M, T* out) {
  const index_t GH = un.G * un.H;
  for (index_t u = u0; u < u1; ++u) {
    if (un.lanes(u) < un.W) {
      pack_units<T>(un, K, u, u + 1, [&](index_t k, index_t c) { return M[k * GH + c]; }, out);
      continue;
    }
    T* p = out + u * un.panel(K);
    for (index_t k = 0; k < K; ++k)
      for (index_t g = 0; g < un.G; ++g, p += un.W)
        simd::store(p, simd::load(M + k * GH + g * un.H + u * un.W));
  }
}

// The panels of pack_units for a [K, G*H] matrix.
template <typename T>
UnitWeights<T> packed_weights(const Units& un, index_t K, const T* panels) {
  return {panels, static_cast<index_t>(un.panel(K))};
}

// acc[r][u*NA + slot(g)] += sum over k of A[r, k] * B(k, u, g) for r < MR, u < NU, g < G,
// B(k, u, g) the vector at P + u*us + (k*G + g)*W, slot(g) = g except for the last gate with
// kLastApart: NA - 1 (GRU keeps h U_h apart from x W_h). Sums run over k in order, one
// accumulator per element.
template <typename T, int G, int NA, bool kLastApart, int MR, int NU>
inline void tile(const T* A, index_t lda, index_t K, const T* P, index_t us,
                 simd::V<T> (&acc)[MR][NU * NA]) {
  using Vec = simd::V<T>;
  constexpr int W = simd::kW<T>;
  for (index_t k = 0; k < K; ++k) {
    Vec b[NU * G];
#pragma GCC unroll 32
    for (int u = 0; u < NU; ++u)
#pragma GCC unroll 32
      for (int g = 0; g < G; ++g) b[u * G + g] = simd::load(P + u * us + (k * G + g) * W);
#pragma GCC unroll 32
    for (int r = 0; r < MR; ++r) {
      const T a = A[r * lda + k];
#pragma GCC unroll 32
      for (int u = 0; u < NU; ++u)
#pragma GCC unroll 32
        for (int g = 0; g < G; ++g)
          acc[r][u * NA + ((kLastApart && g == G - 1) ? NA - 1 : g)] += a * b[u * G + g];
    }
  }
}

// Register tiles: MR rows x NUR unit blocks for row blocks, 1 row x NU1 unit blocks for
// single rows (batch 1: independent accumulators hide the multiply-add latency). A cell with
// one accumulator per block (SimpleRNN) takes two blocks per row: each broadcast of h then
// feeds two multiply-adds, as in gemm.hpp's tiles. Vector registers: 32 with AVX-512, 16 below.
template <int NA>
struct TileShape {
  static constexpr int kRegs = kVecBytes == 64 ? 32 : 16;
  static constexpr int NUR = NA == 1 ? 2 : 1;
  static constexpr int MR = std::max(1, (kRegs - NA * NUR - 2) / (NA * NUR));
  static constexpr int NU1 = std::max(1, 8 / NA);
};

// Calls f(std::integral_constant<int, MR>) for MR = m (1 <= m <= Max).
template <int Max, typename F>
inline void with_rows(int m, F&& f) {
  if constexpr (Max > 1) {
    if (m < Max) return with_rows<Max - 1>(m, std::forward<F>(f));
  }
  f(std::integral_constant<int, Max>{});
}

// What a fused product sums, per row r and unit block u, into NA accumulators:
//   init:  the G vectors at init + r*ld_init + u*G*W (slots 0..G-1), or zeros when null;
//   x:     x rows (ld ldx) times Wx (slots 0..G-1), skipped when null;
//   h:     h rows (ld ldh) times Uh (slots as tile's kLastApart), skipped when null.
// With precomputed x W as init, the sums run in the same order as with x in the product, so
// both give the same bits.
template <typename T>
struct ProductTerms {
  const T* init = nullptr;
  index_t ld_init = 0;
  const T* x = nullptr;
  index_t ldx = 0, D = 0;
  UnitWeights<T> Wx{};
  const T* h = nullptr;
  index_t ldh = 0, H = 0;
  UnitWeights<T> Uh{};
};

template <typename T, int G, int NA, int MR, int NU>
inline void tile_terms(const ProductTerms<T>& t, index_t r, index_t u,
                       simd::V<T> (&acc)[MR][NU * NA]) {
  constexpr int W = simd::kW<T>;
#pragma GCC unroll 32
  for (int i = 0; i < MR; ++i)
#pragma GCC unroll 32
    for (int v = 0; v < NU * NA; ++v) {
      const int slot = v % NA;
      acc[i][v] = (t.init && slot < G)
                      ? simd::load(t.init + (r + i) * t.ld_init + u * G * W + (v / NA) * G * W +
                                   slot * W)
                      : simd::V<T>{};
    }
  if (t.x)
    tile<T, G, NA, false, MR, NU>(t.x + r * t.ldx, t.ldx, t.D, t.Wx.base + u * t.Wx.us,
                                  t.Wx.us, acc);
  if (t.h)
    tile<T, G, NA, (NA > G), MR, NU>(t.h + r * t.ldh, t.ldh, t.H, t.Uh.base + u * t.Uh.us,
                                     t.Uh.us, acc);
}

// Rows [r0, r1) x unit blocks [u0, u1) of the product, each (row, unit block) handed to
// out(row, u, const V* acc) (NA vectors).
template <typename T, int G, int NA, typename Out>
void unit_product(const ProductTerms<T>& t, index_t r0, index_t r1, index_t u0, index_t u1,
                  Out&& out) {
  using Shape = TileShape<NA>;
  index_t u = u0;
  if (r1 - r0 == 1) {  // one row: several unit blocks per tile
    for (; u + Shape::NU1 <= u1; u += Shape::NU1) {
      simd::V<T> acc[1][Shape::NU1 * NA];
      tile_terms<T, G, NA, 1, Shape::NU1>(t, r0, u, acc);
      for (int v = 0; v < Shape::NU1; ++v) out(r0, u + v, &acc[0][v * NA]);
    }
  }
  // Unit blocks outer (their weights stay in cache), NUR at a time, then one at a time.
  const auto row_tiles = [&](index_t ub, auto nu) {
    constexpr int NU = decltype(nu)::value;
    for (index_t r = r0; r < r1; r += Shape::MR)
      with_rows<Shape::MR>(static_cast<int>(std::min<index_t>(Shape::MR, r1 - r)), [&](auto mr) {
        constexpr int M = decltype(mr)::value;
        simd::V<T> acc[M][NU * NA];
        tile_terms<T, G, NA, M, NU>(t, r, ub, acc);
        for (int i = 0; i < M; ++i)
          for (int v = 0; v < NU; ++v) out(r + i, ub + v, &acc[i][v * NA]);
      });
  };
  if constexpr (Shape::NUR > 1)
    for (; u + Shape::NUR <= u1; u += Shape::NUR)
      row_tiles(u, std::integral_constant<int, Shape::NUR>{});
  for (; u < u1; ++u) row_tiles(u, std::integral_constant<int, 1>{});
}

// What a cell's fused block computes from: the step, and one (row, unit block).
template <typename T>
struct FusedAt {
  index_t row;     // cache / x row: b * T + tin
  index_t col;     // first unit of the block: u * W
  index_t lanes;   // units of the block (W, fewer in the last one)
};

// How the threads of a call split the work (see the top of this file).
// Columns cost one barrier per step: only where a step's recurrent product hides it (at H=32,
// batch 1, the split ran 2x slower than one thread doing all; at H=256, 2x faster).
inline bool split_columns(index_t B, index_t H, int gates, int threads, int mr) {
  if (threads <= 1 || static_cast<std::int64_t>(gates) * H * H < (std::int64_t{1} << 16))
    return false;
  return B < static_cast<index_t>(threads) * mr || H >= 256;
}

// Whether x W is computed for all steps before the loop (time-major [T, B, nub*G*W]), or
// inside each step's product. Before: batches too small to fill a tile's rows (each weight
// vector then serves several time steps instead of one), and input dropout (a packed kernel
// per sample).
template <int NA>
inline bool precompute_input(const RnnSpec& s) {
  return s.input_dropout_groups > 0 || s.batch < TileShape<NA>::MR;
}

template <int NA>
inline std::size_t fused_ws(const RnnSpec& s, int gates) {
  const int W = Simd<float>::W;  // floats: the larger count (double pads less)
  const Units un(s.hidden, gates, W);
  const std::size_t B = s.batch, T = s.steps;
  std::size_t n = un.nub * (un.panel(s.hidden) + un.panel(s.input)) + 2 * un.row() +
                  4 * B * un.Hp;
  if (precompute_input<NA>(s)) n += T * B * un.row();
  if (s.input_dropout_groups) n += team_size(s) * un.nub * un.panel(s.input);
  return n + 16 * kSliceAlign;
}

// The weights as the fused forward reads them, for ForwardArgs::packed_weights (pack_weights
// of rnn.cpp when the cell runs fused): U's unit panels, then W's. The float size bounds the
// double one.
inline std::size_t fused_packed_size(const RnnSpec& s, int gates) {
  const Units un(s.hidden, gates, Simd<float>::W);
  return un.nub * (un.panel(s.hidden) + un.panel(s.input));
}

template <typename T>
void pack_fused_weights(const RnnSpec& s, int gates, const T* kernel, const T* recurrent_kernel,
                        T* out) {
  const Units un(s.hidden, gates, simd::kW<T>);
  pack_units<T>(un, s.hidden, 0, un.nub, recurrent_kernel, out);
  pack_units<T>(un, s.input, 0, un.nub, kernel, out + un.nub * un.panel(s.hidden));
}

// One unit block's step committed at offset `at` of the row buffers (n valid lanes): a valid
// step stores the new states and its output; a masked one carries the states and repeats the
// last output (zero without `last`). c, last, y: null when not kept.
template <typename T>
inline void commit_unit(bool valid, simd::V<T> hv, simd::V<T> hnew, simd::V<T> cv, index_t at,
                        index_t n, T* hn, T* c, T* last, T* y) {
  if (valid) {
    simd::store(hn + at, hnew);
    if (c) simd::store(c + at, cv);
    if (last) simd::store(last + at, hnew);
    if (y) simd::store_n(y, hnew, n);
  } else {
    simd::store(hn + at, hv);
    if (y) simd::store_n(y, last ? simd::load(last + at) : simd::V<T>{}, n);
  }
}

// Row r's final states and last output, units [c0, c1), from the row buffers (ld Hp).
template <typename T>
void store_final_row(const ForwardArgs<T>& a, const Geo& g, index_t r, index_t c0, index_t c1,
                     index_t Hp, const T* h, const T* c, const T* last) {
  constexpr index_t W = simd::kW<T>;
  const std::uint8_t* mlast = a.mask ? a.mask + g.tin(g.T - 1) : nullptr;
  for (index_t col = c0; col < c1; col += W) {
    const index_t n = std::min(W, g.H - col), at = r * Hp + col, o = r * g.H + col;
    if (a.h_n) simd::store_n(a.h_n + o, simd::load(h + at), n);
    if (c && a.c_n) simd::store_n(a.c_n + o, simd::load(c + at), n);
    if (a.last_output) {
      const bool valid = !mlast || mlast[r * g.T];
      simd::store_n(a.last_output + o,
                    valid ? simd::load(h + at) : last ? simd::load(last + at) : simd::V<T>{}, n);
    }
  }
}

template <typename CellT, typename T>
void fused_forward_pass(const RnnSpec& spec, const ForwardArgs<T>& a) {
  const FlushDenormals flush;
  using Vec = simd::V<T>;
  constexpr int G = CellT::gates, NA = CellT::accumulators, W = simd::kW<T>;
  constexpr bool has_c = CellT::states == 2;
  const Geo g(spec, G);
  const Units un(g.H, G, W);
  const typename CellT::template Fused<T> cell(FwdContext<T>{g, spec, a});
  const index_t B = g.B, Tn = g.T, H = g.H, Hp = un.Hp, D = g.D, GH = g.GH;
  const int in_groups = spec.input_dropout_groups;
  const bool pre = precompute_input<NA>(spec);
  Carver<T> ws{a.workspace};
  T* xproj = pre ? ws.take(Tn * B * un.row()) : nullptr;
  T* Up = ws.take(un.nub * un.panel(H));
  T* Wp = ws.take(un.nub * un.panel(D));
  // Weights packed once by the caller (pack_fused_weights), or by this call.
  const bool prepacked = a.packed_weights != nullptr;
  const T* Uuse = prepacked ? a.packed_weights : Up;
  const T* Wuse = prepacked ? a.packed_weights + un.nub * un.panel(H) : Wp;
  T* xbias = ws.take(un.row());
  T* rbias = ws.take(un.row());
  T* hbuf = ws.take(2 * B * Hp);
  T* cbuf = ws.take(B * Hp);
  T* lastbuf = ws.take(B * Hp);
  T* Wsample = in_groups ? ws.take(team_size(spec) * un.nub * un.panel(D)) : nullptr;
  const bool carry_out = a.mask && !spec.zero_output_for_mask;
  // Small, read by every thread: packed before the threads start.
  pack_units<T>(un, 1, 0, un.nub, [&](index_t, index_t c) { return cell.folded_bias(c); }, xbias);
  pack_units<T>(un, 1, 0, un.nub, [&](index_t, index_t c) { return cell.recurrent_bias(c); }, rbias);
  SpinBarrier barrier;
#ifdef FASTRNN_OPENMP
#pragma omp parallel num_threads(team_size(spec))
#endif
  {
    const FlushDenormals flush_in_thread;
#ifdef FASTRNN_OPENMP
    const int nt = omp_get_num_threads(), id = omp_get_thread_num();
#else
    const int nt = 1, id = 0;
#endif
    const bool columns = split_columns(B, H, G, nt, TileShape<NA>::MR);
    index_t r0 = 0, r1 = B, u0 = 0, u1 = un.nub;
    if (columns) {  // each thread packs the weights of the unit blocks it uses
      const Block ub = my_block(un.nub);
      u0 = ub.b0; u1 = ub.b0 + ub.nb;
      if (!prepacked) pack_units<T>(un, H, u0, u1, a.recurrent_kernel, Up);
      if (!prepacked && !in_groups) pack_units<T>(un, D, u0, u1, a.kernel, Wp);
      barrier.join(nt);
    } else {  // every thread uses all weights: packed by all, then a barrier
      const Block rb = my_block(B);
      r0 = rb.b0; r1 = rb.b0 + rb.nb;
      const Block ub = my_block(un.nub);
      if (!prepacked) pack_units<T>(un, H, ub.b0, ub.b0 + ub.nb, a.recurrent_kernel, Up);
      if (!prepacked && !in_groups) pack_units<T>(un, D, ub.b0, ub.b0 + ub.nb, a.kernel, Wp);
#ifdef FASTRNN_OPENMP
#pragma omp barrier
#endif
    }
    // x W of this thread's rows and units for all steps, when precomputed.
    for (index_t b = r0; pre && b < r1 && u0 < u1; ++b) {
      ProductTerms<T> t;
      t.x = a.x + b * Tn * D; t.ldx = D; t.D = D;
      t.Wx = packed_weights(un, D, Wuse);
      if (in_groups) {  // sample b's input dropout folded into its own packed kernel
        T* mine = Wsample + id * un.nub * un.panel(D);
        const index_t cw = group_width(g, in_groups);
        const T* m = a.input_dropout + b * D;
        pack_units<T>(un, D, u0, u1, [&](index_t k, index_t c) {
          return a.kernel[k * GH + c] * m[(c / cw) * B * D + k];
        }, mine);
        t.Wx = packed_weights(un, D, mine);
      }
      unit_product<T, G, NA>(t, 0, Tn, u0, u1, [&](index_t tt, index_t u, const Vec* acc) {
        T* dst = xproj + (tt * B + b) * un.row() + u * un.block();
        for (int v = 0; v < G; ++v) simd::store(dst + v * W, acc[v]);
      });
    }
    // Initial states.
    T* h = hbuf;
    T* hn = hbuf + B * Hp;
    for (index_t r = r0; r < r1; ++r)
      for (index_t u = u0; u < u1; ++u) {
        const index_t n = un.lanes(u), at = r * Hp + u * W;
        simd::store(h + at, a.h0 ? simd::load_n(a.h0 + r * H + u * W, n) : Vec{});
        if (has_c) simd::store(cbuf + at, a.c0 ? simd::load_n(a.c0 + r * H + u * W, n) : Vec{});
        if (carry_out) simd::store(lastbuf + at, Vec{});
      }
    if (columns) barrier.wait();
    for (index_t s = 0; s < Tn; ++s) {
      const index_t tin = g.tin(s);
      ProductTerms<T> t;
      if (pre) {
        t.init = xproj + tin * B * un.row(); t.ld_init = un.row();
      } else {
        t.x = a.x + tin * D; t.ldx = Tn * D; t.D = D;
        t.Wx = packed_weights(un, D, Wuse);
      }
      t.h = h; t.ldh = Hp; t.H = H;
      t.Uh = packed_weights(un, H, Uuse);
      unit_product<T, G, NA>(t, r0, r1, u0, u1, [&](index_t r, index_t u, const Vec* acc) {
        const index_t at = r * Hp + u * W, n = un.lanes(u);
        const Vec hv = simd::load(h + at);
        Vec cv = has_c ? simd::load(cbuf + at) : Vec{};
        const Vec hnew = cell.block(acc, xbias + u * un.block(), rbias + u * un.block(), hv, cv,
                                    FusedAt<T>{r * Tn + tin, u * W, n});
        commit_unit<T>(!a.mask || a.mask[r * Tn + tin], hv, hnew, cv, at, n, hn,
                       has_c ? cbuf : nullptr, carry_out ? lastbuf : nullptr,
                       a.outputs ? a.outputs + (r * Tn + s) * H + u * W : nullptr);
      });
      if (columns) barrier.wait();
      std::swap(h, hn);
    }
    for (index_t r = r0; r < r1; ++r)  // final states and the last output
      store_final_row<T>(a, g, r, u0 * W, std::min(u1 * W, H), Hp, h, has_c ? cbuf : nullptr,
                         carry_out ? lastbuf : nullptr);
  }
}

}  // namespace detail
}  // namespace fastrnn
