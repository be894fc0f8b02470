// LSTM, Keras gate order i, f, c, o:
//   i = ra(x Wi + h Ui + bi)   f = ra(x Wf + h Uf + bf)   g = a(x Wc + h Uc + bc)
//   o = ra(x Wo + h Uo + bo)   c' = f*c + i*g             h' = o * a(c')
// (a = activation, ra = recurrent_activation).
#include "fastrnn/activations.hpp"
#include "fastrnn/cells.hpp"
#include "loop.hpp"

namespace fastrnn {
using namespace detail;

template <typename T>
void lstm_forward(const RnnSpec& spec, const ForwardArgs<T>& a) {
  const Geo g(spec);
  const index_t H = g.H, GH = g.GH, Tn = g.T;
  T* c_gates = a.cache;
  T* c_cprev = a.cache ? a.cache + g.B * Tn * GH : nullptr;
  T* c_hprev = a.cache ? c_cprev + g.B * Tn * H : nullptr;
  run_forward<T>(spec, a, [&](FwdStep<T>& st) {
    const index_t nb = st.nb;
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
  });
}

template <typename T>
void lstm_backward(const RnnSpec& spec, const BackwardArgs<T>& a) {
  const Geo g(spec);
  const index_t H = g.H, GH = g.GH, Tn = g.T, BT = g.B * g.T;
  const T* c_gates = a.cache;
  const T* c_cprev = a.cache + BT * GH;
  const T* c_hprev = c_cprev + BT * H;
  Carver<T> ws{a.workspace};
  T* dG = ws.take(BT * GH);
  T* scratch = ws.take(team_size(spec) * thread_scratch_size(spec));  // per thread
  run_backward<T>(spec, a, dG, nullptr, GH, ws.p, [&](BwdStep<T>& st) {
    const index_t nb = st.nb;
    auto P = carr(c_gates + st.row0 * GH, nb, GH, Tn * GH);
    auto i = P.leftCols(H), f = P.middleCols(H, H), gg = P.middleCols(2 * H, H), o = P.rightCols(H);
    auto cp = carr(c_cprev + st.row0 * H, nb, H, Tn * H);
    auto dht = carr(st.dht, nb, H, H);
    auto tc = arr(st.t1, nb, H, H);
    activate(spec.activation, f * cp + i * gg, tc);   // a(c') recomputed from the cache
    auto dGr = arr(dG + st.row0 * GH, nb, GH, Tn * GH);
    activate_grad(spec.recurrent_activation, dht * tc, o, dGr.rightCols(H));
    auto dc = arr(st.dcp, nb, H, H);                  // total gradient of c'
    activate_grad(spec.activation, dht * o, tc, dc);
    dc += carr(st.dc, nb, H, H);
    activate_grad(spec.recurrent_activation, dc * gg, i, dGr.leftCols(H));
    activate_grad(spec.recurrent_activation, dc * cp, f, dGr.middleCols(H, H));
    activate_grad(spec.activation, dc * i, gg, dGr.middleCols(2 * H, H));
    dc *= f;                                          // now the gradient of c
    arr(st.dhp, nb, H, H).setZero();
    recurrent_backprop(g, dG + st.row0 * GH, Tn * GH, nb, *st.Ut, 0, GH, st.rm,
                       spec.recurrent_dropout_groups, st.dhp, st.t2);
  }, [&](const Block& blk, T* dW, T* dU, T* db) {
    block_weight_grads(g, spec, a, blk, dG, c_hprev, scratch, dW, dU, db);
  });
}

template void lstm_forward<float>(const RnnSpec&, const ForwardArgs<float>&);
template void lstm_forward<double>(const RnnSpec&, const ForwardArgs<double>&);
template void lstm_backward<float>(const RnnSpec&, const BackwardArgs<float>&);
template void lstm_backward<double>(const RnnSpec&, const BackwardArgs<double>&);

}  // namespace fastrnn
