// SimpleRNN: h' = a(x W + b + h U).
#include "fastrnn/activations.hpp"
#include "fastrnn/cells.hpp"
#include "loop.hpp"

namespace fastrnn {
using namespace detail;

template <typename T>
void simple_rnn_forward(const RnnSpec& spec, const ForwardArgs<T>& a) {
  const Geo g(spec);
  const index_t H = g.H, Tn = g.T;
  T* c_hnew = a.cache;
  T* c_hprev = a.cache ? a.cache + g.B * Tn * H : nullptr;
  run_forward<T>(spec, a, [&](FwdStep<T>& st) {
    const index_t nb = st.nb;
    if (a.cache) arr(c_hprev + st.row0 * H, nb, H, Tn * H) = carr(st.h, nb, H, H);
    recurrent_projection(g, st.h, nb, *st.U, 0, H, st.rm,
                         spec.recurrent_dropout_groups, st.rec, st.hd);
    auto P = arr(st.rec, nb, H, H);
    P += carr(st.xp, nb, H, Tn * H);
    if (a.bias) P.rowwise() += CRow<T>(a.bias, H);
    activate(spec.activation, P, arr(st.hn, nb, H, H));
    if (a.cache) arr(c_hnew + st.row0 * H, nb, H, Tn * H) = carr(st.hn, nb, H, H);
  });
}

template <typename T>
void simple_rnn_backward(const RnnSpec& spec, const BackwardArgs<T>& a) {
  const Geo g(spec);
  const index_t H = g.H, Tn = g.T, BT = g.B * g.T;
  const T* c_hnew = a.cache;
  const T* c_hprev = a.cache + BT * H;
  Carver<T> ws{a.workspace};
  T* dG = ws.take(BT * H);
  T* scratch = ws.take(team_size(spec) * thread_scratch_size(spec));  // per thread
  run_backward<T>(spec, a, dG, nullptr, H, ws.p, [&](BwdStep<T>& st) {
    const index_t nb = st.nb;
    activate_grad(spec.activation, carr(st.dht, nb, H, H), carr(c_hnew + st.row0 * H, nb, H, Tn * H),
                  arr(dG + st.row0 * H, nb, H, Tn * H));
    arr(st.dhp, nb, H, H).setZero();
    recurrent_backprop(g, dG + st.row0 * H, Tn * H, nb, *st.Ut, 0, H, st.rm,
                       spec.recurrent_dropout_groups, st.dhp, st.t2);
  }, [&](const Block& blk, T* dW, T* dU, T* db) {
    block_weight_grads(g, spec, a, blk, dG, c_hprev, scratch, dW, dU, db);
  });
}

template void simple_rnn_forward<float>(const RnnSpec&, const ForwardArgs<float>&);
template void simple_rnn_forward<double>(const RnnSpec&, const ForwardArgs<double>&);
template void simple_rnn_backward<float>(const RnnSpec&, const BackwardArgs<float>&);
template void simple_rnn_backward<double>(const RnnSpec&, const BackwardArgs<double>&);

}  // namespace fastrnn
