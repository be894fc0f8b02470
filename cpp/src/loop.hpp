// The time loops shared by all cells, templated on a cell's traits type (the contract is in
// common.hpp, "Cells"). A cell supplies its step bodies and weight-gradient body; the loops
// own the workspace layout, the input projection, the OpenMP region (one per pass, each
// thread owning a block of batch rows for every step), initial/final states and mask/output
// routing. FASTRNN_DEFINE_CELL instantiates them in the cell's .cpp and registers the cell.
#pragma once

#include "cells.hpp"
#include "denormals.hpp"
#include "detail.hpp"

namespace fastrnn {
namespace detail {

// What a forward step body sees: one thread's `nb` rows at processing step `s`.
template <typename T>
struct FwdStep {
  index_t nb, b0, s, tin, row0;  // row0 = b0*T + tin: cache/x row of the block's first sample
  const T* xp;                   // input projection rows (ld T*G*H)
  const T* rm;                   // recurrent dropout at row b0 of group 0, or null
  T *h, *c;                      // current states [nb,H] (c null for one-state cells)
  T *hn, *cn;                    // new states to fill [nb,H]
  T *rec, *gates, *hd;           // scratch [nb,GH], [nb,GH], [nb,H]
  const GatePacks<T>* U;         // recurrent kernel packed per gate
};

// What a backward step body sees.
template <typename T>
struct BwdStep {
  index_t nb, b0, s, tin, row0;
  const T* rm;                   // as forward
  const T* dht;                  // total gradient of the step's new h [nb,H]
  T* dc;                         // carried gradient of the step's new c [nb,H] (two states)
  T *dhp, *dcp;                  // gradients w.r.t. the step's previous states, to fill
  T *t1, *t2;                    // scratch [nb,H] each
  const GatePacks<T>* Ut;        // recurrent kernel, transposed gate blocks, packed
};

// The backward pass's arrays a cell's Backward is built with.
template <typename T>
struct BwdBuffers {
  T* dG;       // [B*T, G*H] gate pre-activation gradients (rows of masked steps zeroed)
  T* dG2;      // a second such array when grad_arrays(spec) == 2, else null
  T* rows;     // [B*T, row_scratch(spec)], or null
  T* scratch;  // team_size slices of thread_scratch_size: the weight GEMMs' scratch
};

// What a cell's Forward<T> and Backward<T> are built from (they derive from these).
template <typename T>
struct FwdContext {
  const Geo& g;
  const RnnSpec& spec;
  const ForwardArgs<T>& a;
};

template <typename T>
struct BwdContext {
  const Geo& g;
  const RnnSpec& spec;
  const BackwardArgs<T>& a;
  BwdBuffers<T> buf;
};

// What most cells are, for traits types to derive from and override (common.hpp, "Cells").
struct CellDefaults {
  static constexpr bool uses_recurrent_activation = true, uses_reset_after = false;
  static index_t bias_rows(const RnnSpec&) { return 1; }
  static int grad_arrays(const RnnSpec&) { return 1; }
  static std::size_t row_scratch(const RnnSpec&) { return 0; }
};

// The team size of a call's parallel regions: spec.threads, else fastrnn::get_num_threads()
// (process-wide; omp_set_num_threads would only affect the calling OS thread).
inline int team_size(const RnnSpec& s) { return s.threads > 0 ? s.threads : get_num_threads(); }

// The calling thread's slice of a scratch of team_size(s) thread_scratch_size slices.
template <typename T>
T* thread_scratch(const RnnSpec& s, T* base) {
  return base + thread_index() * thread_scratch_size(s);
}

inline std::size_t fwd_ws(const RnnSpec& s) {
  const int G = num_gates(s.cell);
  const std::size_t B = s.batch, T = s.steps, H = s.hidden, GH = G * H;
  // Packed weights: the float size bounds the double one (narrower panels pad less).
  return B * T * GH + team_size(s) * thread_scratch_size(s) + B * (6 * H + 2 * GH) +
         GatePacks<float>::size(G, H) + kCarveSlack;
}

// One thread's partial weight gradients: [D,GH] kernel, [H,GH] recurrent kernel, bias.
inline std::size_t partial_size(const RnnSpec& s) {
  const std::size_t GH = num_gates(s.cell) * s.hidden;
  return (s.input + s.hidden) * GH + bias_size(s);
}

inline std::size_t bwd_ws(const RnnSpec& s) {
  const CellOps& ops = cell_ops(s.cell);
  const int G = ops.info.gates;
  const std::size_t B = s.batch, T = s.steps, H = s.hidden, GH = G * H;
  return B * T * (GH * ops.grad_arrays(s) + ops.row_scratch(s)) +
         team_size(s) * thread_scratch_size(s) + B * 8 * H + team_size(s) * partial_size(s) +
         GatePacks<float>::size(G, H) + kCarveSlack;
}

// The block's weight gradients (and its rows of dx) when dG [B*T, G*H] holds the
// pre-activation gradients of all gates and hprev [B*T, H] the recurrent matmul's left
// operand (SimpleRNN, LSTM).
template <typename T>
void block_weight_grads(const Geo& g, const RnnSpec& spec, const BackwardArgs<T>& a,
                        const Block& blk, const T* dG, const T* hprev, T* scratch, T* dW,
                        T* dU, T* db) {
  T* sc = thread_scratch(spec, scratch);
  input_backprop(g, blk, a.x, a.kernel, a.input_dropout, spec.input_dropout_groups, dG, dW,
                 a.d_x, sc);
  recurrent_weight_grad(g, blk, hprev, a.recurrent_dropout, spec.recurrent_dropout_groups, dG,
                        g.GH, index_t(0), g.GH, dU, sc);
  if (db) bias_grad(g, blk, dG, g.GH, g.GH, db);
}

template <typename CellT, typename T>
void forward_pass(const RnnSpec& spec, const ForwardArgs<T>& a) {
  const FlushDenormals flush;
  const Geo g(spec, CellT::gates);
  const typename CellT::template Forward<T> cell(FwdContext<T>{g, spec, a});
  const index_t B = g.B, H = g.H, Tn = g.T;
  constexpr bool has_c = CellT::states == 2;
  Carver<T> ws{a.workspace};
  T* xproj = ws.take(B * Tn * g.GH);
  T* scratch = ws.take(team_size(spec) * thread_scratch_size(spec));
  T *hb = ws.take(B * H), *hnb = ws.take(B * H), *cb = ws.take(B * H), *cnb = ws.take(B * H);
  T *lastb = ws.take(B * H), *hdb = ws.take(B * H), *recb = ws.take(B * g.GH), *gb = ws.take(B * g.GH);
  T* u_pack = ws.take(GatePacks<T>::size(g.G, H));
  const T* w_packed = a.packed_weights;   // pack_weights' layout: W's panels, then U's
  const GatePacks<T> U = w_packed ? GatePacks<T>::view(w_packed + packed_size<T>(g.D, g.GH), H)
                                  : GatePacks<T>::pack(a.recurrent_kernel, g.G, H, false, u_pack);
  const bool carry_out = a.mask && !spec.zero_output_for_mask;
#ifdef FASTRNN_OPENMP
#pragma omp parallel num_threads(team_size(spec))
#endif
  {
    const FlushDenormals flush_in_thread;
    const Block blk = my_block(B);
    if (blk.nb > 0) {
      const index_t nb = blk.nb, b0 = blk.b0;
      input_projection(g, blk, a.x, a.kernel, a.input_dropout, spec.input_dropout_groups, xproj,
                       thread_scratch(spec, scratch), w_packed);
      FwdStep<T> st{};
      st.nb = nb; st.b0 = b0;
      st.h = hb + b0 * H; st.hn = hnb + b0 * H;
      st.c = has_c ? cb + b0 * H : nullptr; st.cn = has_c ? cnb + b0 * H : nullptr;
      st.rec = recb + b0 * g.GH; st.gates = gb + b0 * g.GH; st.hd = hdb + b0 * H;
      st.rm = a.recurrent_dropout ? a.recurrent_dropout + b0 * H : nullptr;
      st.U = &U;
      T* last = carry_out ? lastb + b0 * H : nullptr;
      load_rows(a.h0, b0, nb, H, st.h);
      if (has_c) load_rows(a.c0, b0, nb, H, st.c);
      if (last) load_rows<T>(nullptr, b0, nb, H, last);
      for (index_t s = 0; s < Tn; ++s) {
        st.s = s; st.tin = g.tin(s); st.row0 = b0 * Tn + st.tin;
        st.xp = xproj + st.row0 * g.GH;
        cell.step(st);
        StepIO<T> io{a.mask ? a.mask + st.row0 : nullptr,
                     a.outputs ? a.outputs + (b0 * Tn + s) * H : nullptr, last};
        commit_forward(g, nb, io, spec.zero_output_for_mask, st.h, st.hn, st.c, st.cn);
      }
      store_rows(st.h, b0, nb, H, a.h_n);
      if (has_c) store_rows(st.c, b0, nb, H, a.c_n);
      if (a.last_output) {  // the final step's output, as commit_forward defined it
        const std::uint8_t* m = a.mask ? a.mask + b0 * Tn + g.tin(Tn - 1) : nullptr;
        for (index_t r = 0; r < nb; ++r) {
          T* dst = a.last_output + (b0 + r) * H;
          if (!m || m[r * Tn]) std::memcpy(dst, st.h + r * H, H * sizeof(T));
          else if (last) std::memcpy(dst, last + r * H, H * sizeof(T));
          else std::fill(dst, dst + H, T(0));
        }
      }
    }
  }
}

// The reverse time loop. The cell's step writes the gate gradients of its rows into the
// BwdBuffers arrays (the loop zeroes the rows of masked steps). Then, still per thread, the
// cell's weight_grads(block, dW, dU, db) writes the block's partial weight gradients, and the
// partials are summed in thread order (deterministic for a given thread count) into
// a.d_kernel, a.d_recurrent_kernel and a.d_bias.
template <typename CellT, typename T>
void backward_pass(const RnnSpec& spec, const BackwardArgs<T>& a) {
  const FlushDenormals flush;
  const Geo g(spec, CellT::gates);
  const index_t B = g.B, H = g.H, Tn = g.T, BT = B * Tn;
  constexpr bool has_c = CellT::states == 2;
  Carver<T> ws{a.workspace};
  BwdBuffers<T> buf{};
  buf.dG = ws.take(BT * g.GH);
  if (CellT::grad_arrays(spec) > 1) buf.dG2 = ws.take(BT * g.GH);
  if (const std::size_t w = CellT::row_scratch(spec)) buf.rows = ws.take(BT * w);
  buf.scratch = ws.take(team_size(spec) * thread_scratch_size(spec));
  const typename CellT::template Backward<T> cell(BwdContext<T>{g, spec, a, buf});
  T *dhb = ws.take(B * H), *dhpb = ws.take(B * H), *dcb = ws.take(B * H), *dcpb = ws.take(B * H);
  T *dycb = ws.take(B * H), *dhtb = ws.take(B * H), *t1b = ws.take(B * H), *t2b = ws.take(B * H);
  const std::size_t psize = partial_size(spec), nk = g.D * g.GH, nu = g.H * g.GH, nbias = bias_size(spec);
  T* partials = ws.take(team_size(spec) * psize);
  const GatePacks<T> Ut = GatePacks<T>::pack(a.recurrent_kernel, g.G, H, true, ws.take(GatePacks<T>::size(g.G, H)));
  const bool carry_out = a.mask && !spec.zero_output_for_mask;
#ifdef FASTRNN_OPENMP
#pragma omp parallel num_threads(team_size(spec))
#endif
  {
    const FlushDenormals flush_in_thread;
    const Block blk = my_block(B);
    if (blk.nb > 0) {
      const index_t nb = blk.nb, b0 = blk.b0;
      BwdStep<T> st{};
      st.nb = nb; st.b0 = b0;
      st.rm = a.recurrent_dropout ? a.recurrent_dropout + b0 * H : nullptr;
      st.Ut = &Ut;
      T *dh = dhb + b0 * H, *dhp = dhpb + b0 * H;
      T *dc = has_c ? dcb + b0 * H : nullptr, *dcp = has_c ? dcpb + b0 * H : nullptr;
      T* dyc = carry_out ? dycb + b0 * H : nullptr;
      T* dht = dhtb + b0 * H;
      st.dht = dht; st.t1 = t1b + b0 * H; st.t2 = t2b + b0 * H;
      load_rows(a.d_h_n, b0, nb, H, dh);
      if (has_c) load_rows(a.d_c_n, b0, nb, H, dc);
      if (dyc) load_rows<T>(nullptr, b0, nb, H, dyc);
      for (index_t s = Tn - 1; s >= 0; --s) {
        st.s = s; st.tin = g.tin(s); st.row0 = b0 * Tn + st.tin;
        const std::uint8_t* m = a.mask ? a.mask + st.row0 : nullptr;
        gather_dh(g, nb, m, spec.zero_output_for_mask, dh,
                  a.d_outputs ? a.d_outputs + (b0 * Tn + s) * H : nullptr,
                  (s == Tn - 1 && a.d_last) ? a.d_last + b0 * H : nullptr, dyc, dht);
        st.dc = dc; st.dhp = dhp; st.dcp = dcp;
        cell.step(st);
        commit_backward(g, nb, m, dh, dhp, dc, dcp, buf.dG + st.row0 * g.GH, Tn * g.GH, g.GH,
                        buf.dG2 ? buf.dG2 + st.row0 * g.GH : nullptr);
      }
      store_rows(dh, b0, nb, H, a.d_h0);
      if (has_c) store_rows(dc, b0, nb, H, a.d_c0);
    }
#ifdef FASTRNN_OPENMP
    const int id = omp_get_thread_num(), nt = omp_get_num_threads();
#else
    const int id = 0, nt = 1;
#endif
    T* mine = partials + id * psize;
    if (blk.nb > 0) cell.weight_grads(blk, mine, mine + nk, nbias ? mine + nk + nu : nullptr);
    else std::fill(mine, mine + psize, T(0));
#ifdef FASTRNN_OPENMP
#pragma omp barrier
#endif
    // Each thread sums one slice of the partials, always in thread order.
    const Block part = my_block(static_cast<index_t>(psize));
    for (index_t e = part.b0; e < part.b0 + part.nb; ++e) {
      T sum = partials[e];
      for (int t = 1; t < nt; ++t) sum += partials[t * psize + e];
      const std::size_t u = static_cast<std::size_t>(e);
      if (u < nk) a.d_kernel[u] = sum;
      else if (u < nk + nu) a.d_recurrent_kernel[u - nk] = sum;
      else a.d_bias[u - nk - nu] = sum;
    }
  }
}

}  // namespace detail
}  // namespace fastrnn
