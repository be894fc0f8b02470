// LSTM, Keras gate order i, f, c, o:
//   i = ra(x Wi + h Ui + bi)   f = ra(x Wf + h Uf + bf)   g = a(x Wc + h Uc + bc)
//   o = ra(x Wo + h Uo + bo)   c' = f*c + i*g             h' = o * a(c')
// (a = activation, ra = recurrent_activation).
#include "define_cell.hpp"

namespace fastrnn {
using namespace detail;

struct LstmCell : CellDefaults {
  static constexpr const char* name = "lstm";
  static constexpr int gates = 4, states = 2;
  // Cache, blocks of [B,T,width] indexed by input time: gates i,f,c,o after activation [4H],
  // c_prev [H], h_prev [H] (h before recurrent dropout).
  static std::size_t cache_width(const RnnSpec& s) { return 6 * s.hidden; }
  static bool fused(const RnnSpec& s) { return s.recurrent_dropout_groups == 0; }
  static constexpr int accumulators = gates;  // of the fused product: one per gate

  template <typename T>
  struct Forward : FwdContext<T> {
    using FwdContext<T>::g, FwdContext<T>::spec, FwdContext<T>::a;
    T *c_gates, *c_cprev, *c_hprev;  // null without a cache
    explicit Forward(const FwdContext<T>& c) : FwdContext<T>(c) {
      c_gates = a.cache;
      c_cprev = a.cache ? a.cache + g.B * g.T * g.GH : nullptr;
      c_hprev = a.cache ? c_cprev + g.B * g.T * g.H : nullptr;
    }
    void step(FwdStep<T>& st) const {
      const index_t nb = st.nb, H = g.H, GH = g.GH, Tn = g.T;
      if (a.cache) {
        arr(c_hprev + st.row0 * H, nb, H, Tn * H) = carr(st.h, nb, H, H);
        arr(c_cprev + st.row0 * H, nb, H, Tn * H) = carr(st.c, nb, H, H);
      }
      recurrent_projection(g, st.h, nb, *st.U, 0, GH, st.rm,
                           spec.recurrent_dropout_groups, st.rec, st.hd);
      auto P = arr(st.rec, nb, GH, GH);
      P += carr(st.xp, nb, GH, Tn * GH);
      if (a.bias) P.rowwise() += CRow<T>(a.bias, GH);
      activate(spec.recurrent_activation, P.leftCols(2 * H), P.leftCols(2 * H));
      activate(spec.activation, P.middleCols(2 * H, H), P.middleCols(2 * H, H));
      activate(spec.recurrent_activation, P.rightCols(H), P.rightCols(H));
      auto cn = arr(st.cn, nb, H, H);
      cn = P.middleCols(H, H) * carr(st.c, nb, H, H) + P.leftCols(H) * P.middleCols(2 * H, H);
      auto hn = arr(st.hn, nb, H, H);
      activate(spec.activation, cn, hn);
      hn *= P.rightCols(H);
      if (a.cache) arr(c_gates + st.row0 * GH, nb, GH, Tn * GH) = P;
    }
  };

  // The fused forward's unit block (fused.hpp): the same step in registers.
  template <typename T>
  struct Fused : Forward<T> {
    using Forward<T>::g, Forward<T>::spec, Forward<T>::a, Forward<T>::c_gates,
        Forward<T>::c_cprev, Forward<T>::c_hprev;
    using Vec = simd::V<T>;
    explicit Fused(const FwdContext<T>& c) : Forward<T>(c) {}
    T folded_bias(index_t col) const { return a.bias ? a.bias[col] : T(0); }
    T recurrent_bias(index_t) const { return T(0); }
    Vec block(const Vec* acc, const T* xp, const T*, Vec h, Vec& c, FusedAt<T> at) const {
      using simd::activation, simd::load, simd::store_n;
      constexpr int W = simd::kW<T>;
      const Activation ra = spec.recurrent_activation, act = spec.activation;
      const Vec i = activation(ra, acc[0] + load(xp));
      const Vec f = activation(ra, acc[1] + load(xp + W));
      const Vec gg = activation(act, acc[2] + load(xp + 2 * W));
      const Vec o = activation(ra, acc[3] + load(xp + 3 * W));
      if (c_gates) {
        const index_t H = g.H, n = at.lanes;
        T* gr = c_gates + at.row * g.GH + at.col;
        store_n(gr, i, n);
        store_n(gr + H, f, n);
        store_n(gr + 2 * H, gg, n);
        store_n(gr + 3 * H, o, n);
        store_n(c_cprev + at.row * H + at.col, c, n);
        store_n(c_hprev + at.row * H + at.col, h, n);
      }
      c = f * c + i * gg;
      return o * activation(act, c);
    }
  };

  template <typename T>
  struct Backward : BwdContext<T> {
    using BwdContext<T>::g, BwdContext<T>::spec, BwdContext<T>::a, BwdContext<T>::buf;
    const T *c_gates, *c_cprev, *c_hprev;
    explicit Backward(const BwdContext<T>& c) : BwdContext<T>(c) {
      c_gates = a.cache;
      c_cprev = a.cache + g.B * g.T * g.GH;
      c_hprev = c_cprev + g.B * g.T * g.H;
    }
    // The element-wise part in one pass over each row's unit blocks (vectors of W units),
    // then dh_prev = dG U^T.
    void step(BwdStep<T>& st) const {
      using simd::activation, simd::activation_grad, simd::load_n, simd::store_n;
      using Vec = simd::V<T>;
      constexpr index_t W = simd::kW<T>;
      const index_t nb = st.nb, H = g.H, GH = g.GH, Tn = g.T;
      const Activation ra = spec.recurrent_activation, act = spec.activation;
      for (index_t r = 0; r < nb; ++r) {
        const index_t row = st.row0 + r * Tn;
        const T* P = c_gates + row * GH;
        const T* cprev = c_cprev + row * H;
        T* dG = buf.dG + row * GH;
        for (index_t u = 0; u < H; u += W) {
          const index_t n = std::min(W, H - u), at = r * H + u;
          const Vec i = load_n(P + u, n), f = load_n(P + H + u, n);
          const Vec gg = load_n(P + 2 * H + u, n), o = load_n(P + 3 * H + u, n);
          const Vec cp = load_n(cprev + u, n), dht = load_n(st.dht + at, n);
          const Vec tc = activation(act, f * cp + i * gg);  // a(c') recomputed from the cache
          const Vec dc = activation_grad(act, dht * o, tc) + load_n(st.dc + at, n);
          store_n(dG + u, activation_grad(ra, dc * gg, i), n);
          store_n(dG + H + u, activation_grad(ra, dc * cp, f), n);
          store_n(dG + 2 * H + u, activation_grad(act, dc * i, gg), n);
          store_n(dG + 3 * H + u, activation_grad(ra, dht * tc, o), n);
          store_n(st.dcp + at, dc * f, n);                   // the gradient of c
        }
      }
      arr(st.dhp, nb, H, H).setZero();
      recurrent_backprop(g, buf.dG + st.row0 * GH, Tn * GH, nb, *st.Ut, 0, GH, st.rm,
                         spec.recurrent_dropout_groups, st.dhp, st.t2);
    }
    void weight_grads(const Block& blk, T* dW, T* dU, T* db) const {
      block_weight_grads(g, spec, a, blk, buf.dG, c_hprev, buf.scratch, dW, dU, db);
    }
  };
};

}  // namespace fastrnn

FASTRNN_DEFINE_CELL(LSTM, LstmCell)
