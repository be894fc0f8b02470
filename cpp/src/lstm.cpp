// LSTM, Keras gate order i, f, c, o:
//   i = ra(x Wi + h Ui + bi)   f = ra(x Wf + h Uf + bf)   g = a(x Wc + h Uc + bc)
//   o = ra(x Wo + h Uo + bo)   c' = f*c + i*g             h' = o * a(c')
// (a = activation, ra = recurrent_activation).
#include "activations.hpp"
#include "loop.hpp"

namespace fastrnn {
using namespace detail;

struct LstmCell : CellDefaults {
  static constexpr const char* name = "lstm";
  static constexpr int gates = 4, states = 2;
  // Cache, blocks of [B,T,width] indexed by input time: gates i,f,c,o after activation [4H],
  // c_prev [H], h_prev [H] (h before recurrent dropout).
  static std::size_t cache_width(const RnnSpec& s) { return 6 * s.hidden; }

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

  template <typename T>
  struct Backward : BwdContext<T> {
    using BwdContext<T>::g, BwdContext<T>::spec, BwdContext<T>::a, BwdContext<T>::buf;
    const T *c_gates, *c_cprev, *c_hprev;
    explicit Backward(const BwdContext<T>& c) : BwdContext<T>(c) {
      c_gates = a.cache;
      c_cprev = a.cache + g.B * g.T * g.GH;
      c_hprev = c_cprev + g.B * g.T * g.H;
    }
    void step(BwdStep<T>& st) const {
      const index_t nb = st.nb, H = g.H, GH = g.GH, Tn = g.T;
      auto P = carr(c_gates + st.row0 * GH, nb, GH, Tn * GH);
      auto i = P.leftCols(H), f = P.middleCols(H, H), gg = P.middleCols(2 * H, H);
      auto o = P.rightCols(H);
      auto cp = carr(c_cprev + st.row0 * H, nb, H, Tn * H);
      auto dht = carr(st.dht, nb, H, H);
      auto tc = arr(st.t1, nb, H, H);
      activate(spec.activation, f * cp + i * gg, tc);   // a(c') recomputed from the cache
      auto dGr = arr(buf.dG + st.row0 * GH, nb, GH, Tn * GH);
      activate_grad(spec.recurrent_activation, dht * tc, o, dGr.rightCols(H));
      auto dc = arr(st.dcp, nb, H, H);                  // total gradient of c'
      activate_grad(spec.activation, dht * o, tc, dc);
      dc += carr(st.dc, nb, H, H);
      activate_grad(spec.recurrent_activation, dc * gg, i, dGr.leftCols(H));
      activate_grad(spec.recurrent_activation, dc * cp, f, dGr.middleCols(H, H));
      activate_grad(spec.activation, dc * i, gg, dGr.middleCols(2 * H, H));
      dc *= f;                                          // now the gradient of c
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
