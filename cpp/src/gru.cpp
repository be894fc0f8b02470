// GRU, Keras gate order z, r, h.
//   reset_after (default):  z = ra(x Wz + bz + h Uz + rbz)   r = ra(x Wr + br + h Ur + rbr)
//                           hh = a(x Wh + bh + r * (h Uh + rbh))
//   reset_before:           z = ra(x Wz + h Uz + bz)  r = ra(x Wr + h Ur + br)
//                           hh = a(x Wh + (r * h) Uh + bh)
//   h' = z * h + (1 - z) * hh
// With recurrent dropout, "h" in a matmul is h * mask of that gate's group; the final blend
// uses the undropped h (as Keras does).
#include "fastrnn/activations.hpp"
#include "fastrnn/cells.hpp"
#include "loop.hpp"

namespace fastrnn {
using namespace detail;

namespace {
// Dropout group whose mask multiplies h in the candidate (h) gate's recurrent matmul.
inline int candidate_group(int groups) { return groups == 1 ? 0 : 2; }
}  // namespace

template <typename T>
void gru_forward(const RnnSpec& spec, const ForwardArgs<T>& a) {
  const Geo g(spec);
  const index_t H = g.H, GH = g.GH, Tn = g.T, BT = g.B * g.T;
  const bool after = spec.reset_after;
  const int rg = spec.recurrent_dropout_groups;
  T* c_gates = a.cache;
  T* c_rh = (a.cache && after) ? a.cache + BT * GH : nullptr;
  T* c_hprev = a.cache ? a.cache + BT * GH + (after ? BT * H : 0) : nullptr;
  const T* ibias = a.bias;                                  // [3H] input-side bias
  const T* rbias = (a.bias && after) ? a.bias + GH : nullptr;  // [3H] recurrent bias
  run_forward<T>(spec, a, [&](FwdStep<T>& st) {
    const index_t nb = st.nb;
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
  });
}

template <typename T>
void gru_backward(const RnnSpec& spec, const BackwardArgs<T>& a) {
  const Geo g(spec);
  const index_t H = g.H, GH = g.GH, Tn = g.T, BT = g.B * g.T;
  const bool after = spec.reset_after;
  const int rg = spec.recurrent_dropout_groups;
  const T* c_gates = a.cache;
  const T* c_rh = after ? a.cache + BT * GH : nullptr;
  const T* c_hprev = a.cache + BT * GH + (after ? BT * H : 0);
  Carver<T> ws{a.workspace};
  T* dG = ws.take(BT * GH);                     // gradients of the input-side pre-activations
  T* dR = after ? ws.take(BT * GH) : nullptr;   // ... of the recurrent-side ones (reset_after)
  T* rows = needs_row_scratch(spec) ? ws.take(BT * H) : nullptr;  // r * h_dropped
  T* scratch = ws.take(team_size(spec) * thread_scratch_size(spec));  // per thread
  run_backward<T>(spec, a, dG, dR, GH, ws.p, [&](BwdStep<T>& st) {
    const index_t nb = st.nb;
    auto P = carr(c_gates + st.row0 * GH, nb, GH, Tn * GH);
    auto z = P.leftCols(H), r = P.middleCols(H, H), hh = P.rightCols(H);
    auto h = carr(c_hprev + st.row0 * H, nb, H, H * Tn);
    auto dht = carr(st.dht, nb, H, H);
    auto dGr = arr(dG + st.row0 * GH, nb, GH, Tn * GH);
    activate_grad(spec.recurrent_activation, dht * (h - hh), z, dGr.leftCols(H));
    activate_grad(spec.activation, dht * (T(1) - z), hh, dGr.rightCols(H));
    auto dhp = arr(st.dhp, nb, H, H);
    dhp = dht * z;
    if (after) {
      auto rh = carr(c_rh + st.row0 * H, nb, H, Tn * H);
      activate_grad(spec.recurrent_activation, dGr.rightCols(H) * rh, r, dGr.middleCols(H, H));
      auto dRr = arr(dR + st.row0 * GH, nb, GH, Tn * GH);
      dRr.leftCols(2 * H) = dGr.leftCols(2 * H);
      dRr.rightCols(H) = dGr.rightCols(H) * r;
      recurrent_backprop(g, dR + st.row0 * GH, Tn * GH, nb, *st.Ut, 0, GH, st.rm, rg, st.dhp, st.t2);
    } else {
      auto dq = arr(st.t1, nb, H, H);  // gradient of (r * h_dropped)
      gemm_packed(dG + st.row0 * GH + 2 * H, Tn * GH, nb, H, st.Ut->gate(2), H, st.t1, H, false);
      if (st.rm) {
        auto m = carr(st.rm + candidate_group(rg) * g.B * H, nb, H, H);
        activate_grad(spec.recurrent_activation, dq * h * m, r, dGr.middleCols(H, H));
        dhp += dq * r * m;
      } else {
        activate_grad(spec.recurrent_activation, dq * h, r, dGr.middleCols(H, H));
        dhp += dq * r;
      }
      recurrent_backprop(g, dG + st.row0 * GH, Tn * GH, nb, *st.Ut, 0, 2 * H, st.rm, rg, st.dhp, st.t2);
    }
  }, [&](const Block& blk, T* dW, T* dU, T* db) {
    T* sc = thread_scratch(spec, scratch);
    input_backprop(g, blk, a.x, a.kernel, a.input_dropout, spec.input_dropout_groups, dG, dW,
                   a.d_x, sc);
    if (after) {
      recurrent_weight_grad(g, blk, c_hprev, a.recurrent_dropout, rg, dR, GH, index_t(0), GH, dU, sc);
      if (db) {
        bias_grad(g, blk, dG, GH, GH, db);
        bias_grad(g, blk, dR, GH, GH, db + GH);
      }
      return;
    }
    recurrent_weight_grad(g, blk, c_hprev, a.recurrent_dropout, rg, dG, GH, index_t(0), 2 * H, dU, sc);
    // The candidate matmul's left operand r * h_dropped, rebuilt from the cache.
    const T* m = rg ? a.recurrent_dropout + candidate_group(rg) * g.B * H : nullptr;
    for (index_t b = blk.b0; b < blk.b0 + blk.nb; ++b) {
      auto q = arr(rows + b * Tn * H, Tn, H, H);
      q = carr(c_gates + b * Tn * GH + H, Tn, H, GH) * carr(c_hprev + b * Tn * H, Tn, H, H);
      if (m) q.rowwise() *= CRow<T>(m + b * H, H);
    }
    const index_t r0 = blk.b0 * Tn, n = blk.nb * Tn;
    gemm_tn(rows + r0 * H, H, n, H, dG + r0 * GH + 2 * H, GH, H, dU + 2 * H, GH);
    if (db) bias_grad(g, blk, dG, GH, GH, db);
  });
}

template void gru_forward<float>(const RnnSpec&, const ForwardArgs<float>&);
template void gru_forward<double>(const RnnSpec&, const ForwardArgs<double>&);
template void gru_backward<float>(const RnnSpec&, const BackwardArgs<float>&);
template void gru_backward<double>(const RnnSpec&, const BackwardArgs<double>&);

}  // namespace fastrnn
