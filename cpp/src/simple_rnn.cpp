// SimpleRNN: h' = a(x W + b + h U).
#include "activations.hpp"
#include "loop.hpp"

namespace fastrnn {
using namespace detail;

struct SimpleRnnCell : CellDefaults {
  static constexpr const char* name = "simple_rnn";
  static constexpr int gates = 1, states = 1;
  static constexpr bool uses_recurrent_activation = false;
  // Cache, blocks of [B,T,width] indexed by input time: h_new [H], h_prev [H] (h before
  // recurrent dropout).
  static std::size_t cache_width(const RnnSpec& s) { return 2 * s.hidden; }

  template <typename T>
  struct Forward : FwdContext<T> {
    using FwdContext<T>::g, FwdContext<T>::spec, FwdContext<T>::a;
    T *c_hnew, *c_hprev;  // null without a cache
    explicit Forward(const FwdContext<T>& c) : FwdContext<T>(c) {
      c_hnew = a.cache;
      c_hprev = a.cache ? a.cache + g.B * g.T * g.H : nullptr;
    }
    void step(FwdStep<T>& st) const {
      const index_t nb = st.nb, H = g.H, Tn = g.T;
      if (a.cache) arr(c_hprev + st.row0 * H, nb, H, Tn * H) = carr(st.h, nb, H, H);
      recurrent_projection(g, st.h, nb, *st.U, 0, H, st.rm,
                           spec.recurrent_dropout_groups, st.rec, st.hd);
      auto P = arr(st.rec, nb, H, H);
      P += carr(st.xp, nb, H, Tn * H);
      if (a.bias) P.rowwise() += CRow<T>(a.bias, H);
      activate(spec.activation, P, arr(st.hn, nb, H, H));
      if (a.cache) arr(c_hnew + st.row0 * H, nb, H, Tn * H) = carr(st.hn, nb, H, H);
    }
  };

  template <typename T>
  struct Backward : BwdContext<T> {
    using BwdContext<T>::g, BwdContext<T>::spec, BwdContext<T>::a, BwdContext<T>::buf;
    const T *c_hnew, *c_hprev;
    explicit Backward(const BwdContext<T>& c)
        : BwdContext<T>(c), c_hnew(c.a.cache), c_hprev(c.a.cache + c.g.B * c.g.T * c.g.H) {}
    void step(BwdStep<T>& st) const {
      const index_t nb = st.nb, H = g.H, Tn = g.T;
      activate_grad(spec.activation, carr(st.dht, nb, H, H),
                    carr(c_hnew + st.row0 * H, nb, H, Tn * H),
                    arr(buf.dG + st.row0 * H, nb, H, Tn * H));
      arr(st.dhp, nb, H, H).setZero();
      recurrent_backprop(g, buf.dG + st.row0 * H, Tn * H, nb, *st.Ut, 0, H, st.rm,
                         spec.recurrent_dropout_groups, st.dhp, st.t2);
    }
    void weight_grads(const Block& blk, T* dW, T* dU, T* db) const {
      block_weight_grads(g, spec, a, blk, buf.dG, c_hprev, buf.scratch, dW, dU, db);
    }
  };
};

}  // namespace fastrnn

FASTRNN_DEFINE_CELL(SimpleRNN, SimpleRnnCell)
