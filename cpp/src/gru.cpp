// GRU, Keras gate order z, r, h.
//   reset_after (default):  z = ra(x Wz + bz + h Uz + rbz)   r = ra(x Wr + br + h Ur + rbr)
//                           hh = a(x Wh + bh + r * (h Uh + rbh))
//   reset_before:           z = ra(x Wz + h Uz + bz)  r = ra(x Wr + h Ur + br)
//                           hh = a(x Wh + (r * h) Uh + bh)
//   h' = z * h + (1 - z) * hh
// With recurrent dropout, "h" in a matmul is h * mask of that gate's group; the final blend
// uses the undropped h (as Keras does).
#include "define_cell.hpp"

namespace fastrnn {
using namespace detail;

struct GruCell : CellDefaults {
  static constexpr const char* name = "gru";
  static constexpr int gates = 3, states = 1;
  static constexpr bool uses_reset_after = true;
  // reset_after: [2,3H], the input bias row then the recurrent bias row (rbz, rbr, rbh).
  static index_t bias_rows(const RnnSpec& s) { return s.reset_after ? 2 : 1; }
  // Cache, blocks of [B,T,width] indexed by input time: z, r, hh after activation [3H],
  // with reset_after recurrent_h = h_prev U_h + b_rh [H], then h_prev [H] (h before
  // recurrent dropout).
  static std::size_t cache_width(const RnnSpec& s) { return (s.reset_after ? 5 : 4) * s.hidden; }
  // reset_after: gradients of the input-side and of the recurrent-side pre-activations.
  static int grad_arrays(const RnnSpec& s) { return s.reset_after ? 2 : 1; }
  // reset_before: the candidate matmul's left operand r * h_dropped, rebuilt for all rows.
  static std::size_t row_scratch(const RnnSpec& s) { return s.reset_after ? 0 : s.hidden; }
  // reset_before needs all of r before the candidate's product: the unfused loop.
  static bool fused(const RnnSpec& s) { return s.recurrent_dropout_groups == 0 && s.reset_after; }
  // Fused accumulators: z, r (x and h parts summed), x W_h, h U_h (apart: r scales the latter).
  static constexpr int accumulators = 4;

  // Dropout group whose mask multiplies h in the candidate (h) gate's recurrent matmul.
  static int candidate_group(int groups) { return groups == 1 ? 0 : 2; }

  template <typename T>
  struct Forward : FwdContext<T> {
    using FwdContext<T>::g, FwdContext<T>::spec, FwdContext<T>::a;
    const bool after;
    T *c_gates, *c_rh, *c_hprev;  // null without a cache (c_rh: without reset_after)
    const T *ibias, *rbias;       // [3H] input-side and (reset_after) recurrent bias
    explicit Forward(const FwdContext<T>& c) : FwdContext<T>(c), after(c.spec.reset_after) {
      const index_t BT = g.B * g.T;
      c_gates = a.cache;
      c_rh = (a.cache && after) ? a.cache + BT * g.GH : nullptr;
      c_hprev = a.cache ? a.cache + BT * g.GH + (after ? BT * g.H : 0) : nullptr;
      ibias = a.bias;
      rbias = (a.bias && after) ? a.bias + g.GH : nullptr;
    }
    void step(FwdStep<T>& st) const {
      const index_t nb = st.nb, H = g.H, GH = g.GH, Tn = g.T;
      const int rg = spec.recurrent_dropout_groups;
      if (a.cache) arr(c_hprev + st.row0 * H, nb, H, Tn * H) = carr(st.h, nb, H, H);
      auto h = carr(st.h, nb, H, H);
      auto R = arr(st.rec, nb, GH, GH);
      auto P = arr(st.gates, nb, GH, GH);
      recurrent_projection(g, st.h, nb, *st.U, 0, after ? GH : 2 * H, st.rm, rg,
                           st.rec, st.hd);
      P = carr(st.xp, nb, GH, Tn * GH);
      if (ibias) P.rowwise() += CRow<T>(ibias, GH);
      if (rbias) R.rowwise() += CRow<T>(rbias, GH);
      P.leftCols(2 * H) += R.leftCols(2 * H);
      activate(spec.recurrent_activation, P.leftCols(2 * H), P.leftCols(2 * H));
      auto r = P.middleCols(H, H);
      if (after) {
        P.rightCols(H) += r * R.rightCols(H);
      } else {
        auto q = arr(st.hd, nb, H, H);  // (r * h_dropped) feeds the candidate matmul
        if (st.rm) q = r * h * carr(st.rm + candidate_group(rg) * g.B * H, nb, H, H);
        else q = r * h;
        gemm_packed(st.hd, H, nb, H, st.U->gate(2), H, st.rec + 2 * H, GH, false);
        P.rightCols(H) += R.rightCols(H);
      }
      activate(spec.activation, P.rightCols(H), P.rightCols(H));
      auto z = P.leftCols(H);
      arr(st.hn, nb, H, H) = z * h + (T(1) - z) * P.rightCols(H);
      if (a.cache) {
        arr(c_gates + st.row0 * GH, nb, GH, Tn * GH) = P;
        if (after) arr(c_rh + st.row0 * H, nb, H, Tn * H) = R.rightCols(H);
      }
    }
  };

  // reset_after only. The recurrent biases of z and r join the input projection's.
  template <typename T>
  struct Fused : Forward<T> {
    using Forward<T>::g, Forward<T>::spec, Forward<T>::a, Forward<T>::c_gates, Forward<T>::c_rh,
        Forward<T>::c_hprev, Forward<T>::ibias, Forward<T>::rbias;
    using Vec = simd::V<T>;
    explicit Fused(const FwdContext<T>& c) : Forward<T>(c) {}
    T folded_bias(index_t col) const {
      if (!ibias) return T(0);
      return col < 2 * g.H ? ibias[col] + rbias[col] : ibias[col];
    }
    T recurrent_bias(index_t col) const { return ibias && col >= 2 * g.H ? rbias[col] : T(0); }
    Vec block(const Vec* acc, const T* xp, const T* rb, Vec h, Vec&, FusedAt<T> at) const {
      using simd::activation, simd::load, simd::store_n;
      constexpr int W = simd::kW<T>;
      const Activation ra = spec.recurrent_activation;
      const Vec z = activation(ra, acc[0] + load(xp));
      const Vec r = activation(ra, acc[1] + load(xp + W));
      const Vec rh = acc[3] + load(rb + 2 * W);
      const Vec hh = activation(spec.activation, (acc[2] + load(xp + 2 * W)) + r * rh);
      if (c_gates) {
        const index_t H = g.H, n = at.lanes;
        T* gr = c_gates + at.row * g.GH + at.col;
        store_n(gr, z, n);
        store_n(gr + H, r, n);
        store_n(gr + 2 * H, hh, n);
        store_n(c_rh + at.row * H + at.col, rh, n);
        store_n(c_hprev + at.row * H + at.col, h, n);
      }
      return z * h + (T(1) - z) * hh;
    }
  };

  // buf.dG: gradients of the input-side pre-activations; buf.dG2 (reset_after): of the
  // recurrent-side ones.
  template <typename T>
  struct Backward : BwdContext<T> {
    using BwdContext<T>::g, BwdContext<T>::spec, BwdContext<T>::a, BwdContext<T>::buf;
    const bool after;
    const T *c_gates, *c_rh, *c_hprev;
    explicit Backward(const BwdContext<T>& c) : BwdContext<T>(c), after(c.spec.reset_after) {
      const index_t BT = g.B * g.T;
      c_gates = a.cache;
      c_rh = after ? a.cache + BT * g.GH : nullptr;
      c_hprev = a.cache + BT * g.GH + (after ? BT * g.H : 0);
    }
    void step(BwdStep<T>& st) const {
      if (after) return step_after(st);
      const index_t nb = st.nb, H = g.H, GH = g.GH, Tn = g.T;
      const int rg = spec.recurrent_dropout_groups;
      auto P = carr(c_gates + st.row0 * GH, nb, GH, Tn * GH);
      auto z = P.leftCols(H), r = P.middleCols(H, H), hh = P.rightCols(H);
      auto h = carr(c_hprev + st.row0 * H, nb, H, H * Tn);
      auto dht = carr(st.dht, nb, H, H);
      auto dGr = arr(buf.dG + st.row0 * GH, nb, GH, Tn * GH);
      activate_grad(spec.recurrent_activation, dht * (h - hh), z, dGr.leftCols(H));
      activate_grad(spec.activation, dht * (T(1) - z), hh, dGr.rightCols(H));
      auto dhp = arr(st.dhp, nb, H, H);
      dhp = dht * z;
      auto dq = arr(st.t1, nb, H, H);  // gradient of (r * h_dropped)
      gemm_packed(buf.dG + st.row0 * GH + 2 * H, Tn * GH, nb, H, st.Ut->gate(2), H, st.t1, H,
                  false);
      if (st.rm) {
        auto m = carr(st.rm + candidate_group(rg) * g.B * H, nb, H, H);
        activate_grad(spec.recurrent_activation, dq * h * m, r, dGr.middleCols(H, H));
        dhp += dq * r * m;
      } else {
        activate_grad(spec.recurrent_activation, dq * h, r, dGr.middleCols(H, H));
        dhp += dq * r;
      }
      recurrent_backprop(g, buf.dG + st.row0 * GH, Tn * GH, nb, *st.Ut, 0, 2 * H, st.rm, rg,
                         st.dhp, st.t2);
    }
    // reset_after: the element-wise part in one vector pass over each row's unit blocks,
    // then dh_prev += dG2 U^T.
    void step_after(BwdStep<T>& st) const {
      using simd::activation_grad, simd::load_n, simd::store_n;
      using Vec = simd::V<T>;
      constexpr index_t W = simd::kW<T>;
      const index_t nb = st.nb, H = g.H, GH = g.GH, Tn = g.T;
      const Activation ra = spec.recurrent_activation, act = spec.activation;
      for (index_t i = 0; i < nb; ++i) {
        const index_t row = st.row0 + i * Tn;
        const T *P = c_gates + row * GH, *hp = c_hprev + row * H, *rhp = c_rh + row * H;
        T *dG = buf.dG + row * GH, *dR = buf.dG2 + row * GH;
        for (index_t u = 0; u < H; u += W) {
          const index_t n = std::min(W, H - u), at = i * H + u;
          const Vec z = load_n(P + u, n), r = load_n(P + H + u, n), hh = load_n(P + 2 * H + u, n);
          const Vec dht = load_n(st.dht + at, n);
          const Vec dz = activation_grad(ra, dht * (load_n(hp + u, n) - hh), z);
          const Vec dh = activation_grad(act, dht * (T(1) - z), hh);
          const Vec dr = activation_grad(ra, dh * load_n(rhp + u, n), r);
          store_n(dG + u, dz, n);
          store_n(dG + H + u, dr, n);
          store_n(dG + 2 * H + u, dh, n);
          store_n(dR + u, dz, n);
          store_n(dR + H + u, dr, n);
          store_n(dR + 2 * H + u, dh * r, n);
          store_n(st.dhp + at, dht * z, n);
        }
      }
      recurrent_backprop(g, buf.dG2 + st.row0 * GH, Tn * GH, nb, *st.Ut, 0, GH, st.rm,
                         spec.recurrent_dropout_groups, st.dhp, st.t2);
    }
    void weight_grads(const Block& blk, T* dW, T* dU, T* db) const {
      const index_t H = g.H, GH = g.GH, Tn = g.T;
      const int rg = spec.recurrent_dropout_groups;
      T* sc = thread_scratch(spec, buf.scratch);
      input_backprop(g, blk, a.x, a.kernel, a.input_dropout, spec.input_dropout_groups, buf.dG,
                     dW, a.d_x, sc);
      if (after) {
        recurrent_weight_grad(g, blk, c_hprev, a.recurrent_dropout, rg, buf.dG2, GH, index_t(0),
                              GH, dU, sc);
        if (db) {
          bias_grad(g, blk, buf.dG, GH, GH, db);
          bias_grad(g, blk, buf.dG2, GH, GH, db + GH);
        }
        return;
      }
      recurrent_weight_grad(g, blk, c_hprev, a.recurrent_dropout, rg, buf.dG, GH, index_t(0),
                            2 * H, dU, sc);
      // The candidate matmul's left operand r * h_dropped, rebuilt from the cache.
      const T* m = rg ? a.recurrent_dropout + candidate_group(rg) * g.B * H : nullptr;
      for (index_t b = blk.b0; b < blk.b0 + blk.nb; ++b) {
        auto q = arr(buf.rows + b * Tn * H, Tn, H, H);
        q = carr(c_gates + b * Tn * GH + H, Tn, H, GH) * carr(c_hprev + b * Tn * H, Tn, H, H);
        if (m) q.rowwise() *= CRow<T>(m + b * H, H);
      }
      const index_t r0 = blk.b0 * Tn, n = blk.nb * Tn;
      gemm_tn(buf.rows + r0 * H, H, n, H, buf.dG + r0 * GH + 2 * H, GH, H, dU + 2 * H, GH);
      if (db) bias_grad(g, blk, buf.dG, GH, GH, db);
    }
  };
};

}  // namespace fastrnn

FASTRNN_DEFINE_CELL(GRU, GruCell)
