// The reduced-precision inference forward (quantized.hpp), templated on a cell's traits and
// instantiated by FASTRNN_DEFINE_CELL for cells with a fused block: the loop of fused.hpp
// (threads by rows or unit columns, masks, initial and final states, outputs) with the
// products replaced by quantized ones, and the cell's element-wise step (Fused<float>::block)
// unchanged, so gate orders and activations have one source.
//
// Before the loop, each thread quantises the x rows it multiplies (time-major: row t*B + b),
// and each step the h rows (a thread of the column split: all rows, into its own buffers,
// which spares barriers), and computes x W and h U of each tile of rows,
// or, for batches below 4 rows (tiles too thin for AMX), reads x W computed for all steps
// before the loop (time-major [T, B, nub*G*16]: tiles over time instead).
#pragma once

#include "fused.hpp"
#include "quantized.hpp"

namespace fastrnn {
namespace detail {

template <typename CellT>
void quantized_forward_pass(const RnnSpec& spec, const ForwardArgs<float>& a,
                            const quant::Weights& qw, void* workspace) {
  using quant::QW;
  using Vec = simd::V<float>;
  const FlushDenormals flush;
  constexpr int G = CellT::gates, NA = CellT::accumulators, W = simd::kW<float>;
  constexpr int SUB = QW / W;  // element-wise vectors per product unit block
  constexpr int TR = quant::kTileRowsMax;
  constexpr bool has_c = CellT::states == 2;
  const Precision prec = qw.U.precision;
  const Geo g(spec, G);
  const Units ue(g.H, G, W);                 // the element-wise blocks (bias layout)
  const index_t nub = qw.U.nub, Hp = nub * QW, row = nub * G * QW;
  const typename CellT::template Fused<float> cell(FwdContext<float>{g, spec, a});
  const index_t B = g.B, Tn = g.T, H = g.H, D = g.D, kx = qw.W.Kp, kh = qw.U.Kp;
  const int MR = quant::tile_rows(prec, G);
  const int nthreads = team_size(spec);
  const bool pre = quant::precompute_input(B);
  const bool columns = split_columns(B, H, G, nthreads, MR);
  Carver<float> ws{static_cast<float*>(workspace)};
  float* xproj = pre ? ws.take(Tn * B * row) : nullptr;
  float* hbuf = ws.take(2 * B * Hp);
  float* cbuf = ws.take(B * Hp);
  float* lastbuf = ws.take(B * Hp);
  float* xbias = ws.take(ue.row());
  float* rbias = ws.take(ue.row());
  // Activation buffers have TR rows more (x: TR steps more): a tile reads TR rows from its
  // first (x, precomputed: TR steps).
  float* hscale = ws.take(nthreads * (B + TR));
  float* tiles = ws.take(2 * nthreads * TR * G * QW);
  const index_t xq_rows = (Tn + TR) * B, copies = columns ? nthreads : 1;  // one per thread
  auto* xq_all = reinterpret_cast<std::uint32_t*>(ws.take(copies * xq_rows * kx));
  float* xscale_all = ws.take(copies * xq_rows);
  auto* hq = reinterpret_cast<std::uint32_t*>(ws.take(nthreads * (B + TR) * kh));
  const bool carry_out = a.mask && !spec.zero_output_for_mask;
  pack_units<float>(ue, 1, 0, ue.nub, [&](index_t, index_t c) { return cell.folded_bias(c); },
                    xbias);
  pack_units<float>(ue, 1, 0, ue.nub,
                    [&](index_t, index_t c) { return cell.recurrent_bias(c); }, rbias);
  SpinBarrier barrier;
#ifdef FASTRNN_OPENMP
#pragma omp parallel num_threads(nthreads)
#endif
  {
    const FlushDenormals flush_in_thread;
    const quant::TileScope tiles_in_thread(prec);
#ifdef FASTRNN_OPENMP
    const int nt = omp_get_num_threads(), id = omp_get_thread_num();
#else
    const int nt = 1, id = 0;
#endif
    index_t r0 = 0, r1 = B, u0 = 0, u1 = nub;
    if (columns) {
      const Block ub = my_block(nub);
      u0 = ub.b0; u1 = ub.b0 + ub.nb;
      barrier.join(nt);
    } else {
      const Block rb = my_block(B);
      r0 = rb.b0; r1 = rb.b0 + rb.nb;
    }
    // The x rows this thread multiplies, quantised: its own rows, or all of them (columns).
    std::uint32_t* xq = xq_all + (columns ? id : 0) * xq_rows * kx;
    float* xscale = xscale_all + (columns ? id : 0) * xq_rows;
    for (index_t t = 0; t < Tn; ++t)
      quant::quantize_rows(prec, a.x + (r0 * Tn + t) * D, Tn * D, r1 - r0, D,
                           xq + (t * B + r0) * kx, kx, xscale + t * B + r0);
    float* tile = tiles + 2 * id * TR * G * QW;
    float* xtile = tile + TR * G * QW;
    for (index_t b = r0; pre && b < r1; ++b)
      for (index_t u = u0; u < u1; ++u)
        for (index_t t = 0; t < Tn; t += MR) {
          const int mr = static_cast<int>(std::min<index_t>(MR, Tn - t));
          quant::product_tile(qw.W, xq + (t * B + b) * kx, B * kx, xscale + t * B + b, B, mr,
                              u, tile);
          for (int i = 0; i < mr; ++i)
            std::memcpy(xproj + ((t + i) * B + b) * row + u * G * QW, tile + i * G * QW,
                        G * QW * sizeof(float));
        }
    // Initial states.
    float* h = hbuf;
    float* hn = hbuf + B * Hp;
    for (index_t r = r0; r < r1; ++r)
      for (index_t j = u0 * QW; j < u1 * QW; j += W) {
        const index_t n = std::min<index_t>(W, H - j), at = r * Hp + j;
        const bool in = n > 0;
        simd::store(h + at, a.h0 && in ? simd::load_n(a.h0 + r * H + j, n) : Vec{});
        if (has_c) simd::store(cbuf + at, a.c0 && in ? simd::load_n(a.c0 + r * H + j, n) : Vec{});
        if (carry_out) simd::store(lastbuf + at, Vec{});
      }
    if (columns) barrier.wait();
    // The rows this thread quantises each step: its own, or all of them (columns).
    const index_t q0 = columns ? 0 : r0, q1 = columns ? B : r1;
    std::uint32_t* myhq = hq + id * (B + TR) * kh;
    float* myhs = hscale + id * (B + TR);
    for (index_t s = 0; s < Tn; ++s) {
      const index_t tin = g.tin(s);
      quant::quantize_rows(prec, h + q0 * Hp, Hp, q1 - q0, H, myhq + q0 * kh, kh, myhs + q0);
      for (index_t u = u0; u < u1; ++u)
        for (index_t r = r0; r < r1; r += MR) {
          const int mr = static_cast<int>(std::min<index_t>(MR, r1 - r));
          quant::product_tile(qw.U, myhq + r * kh, kh, myhs + r, 1, mr, u, tile);
          const float* xrows = xtile;   // x W of the tile's rows, [mr][G][QW] (ld xld)
          index_t xld = G * QW;
          if (pre) {
            xrows = xproj + (tin * B + r) * row + u * G * QW;
            xld = row;
          } else {
            quant::product_tile(qw.W, xq + (tin * B + r) * kx, kx, xscale + tin * B + r, 1, mr,
                                u, xtile);
          }
          for (int i = 0; i < mr; ++i) {
            const float* hp = tile + i * G * QW;   // h U, [G][QW]
            const float* xp = xrows + i * xld;
            for (int j = 0; j < SUB; ++j) {
              const index_t eu = u * SUB + j, col = eu * W;
              if (col >= H) break;
              Vec acc[NA];
              for (int v = 0; v < G; ++v) {
                const Vec xv = simd::load(xp + v * QW + j * W);
                const Vec hv = simd::load(hp + v * QW + j * W);
                acc[v] = (NA > G && v == G - 1) ? xv : xv + hv;
              }
              if constexpr (NA > G) acc[NA - 1] = simd::load(hp + (G - 1) * QW + j * W);
              const index_t at = (r + i) * Hp + col, n = std::min<index_t>(W, H - col);
              const Vec hv = simd::load(h + at);
              Vec cv = has_c ? simd::load(cbuf + at) : Vec{};
              const Vec hnew = cell.block(acc, xbias + eu * ue.block(), rbias + eu * ue.block(),
                                          hv, cv, FusedAt<float>{(r + i) * Tn + tin, col, n});
              commit_unit<float>(!a.mask || a.mask[(r + i) * Tn + tin], hv, hnew, cv, at, n,
                                 hn, has_c ? cbuf : nullptr, carry_out ? lastbuf : nullptr,
                                 a.outputs ? a.outputs + ((r + i) * Tn + s) * H + col : nullptr);
            }
          }
        }
      if (columns) barrier.wait();
      std::swap(h, hn);
    }
    for (index_t r = r0; r < r1; ++r)  // final states and the last output
      store_final_row<float>(a, g, r, u0 * QW, std::min(u1 * QW, H), Hp, h,
                             has_c ? cbuf : nullptr, carry_out ? lastbuf : nullptr);
  }
}

}  // namespace detail
}  // namespace fastrnn
