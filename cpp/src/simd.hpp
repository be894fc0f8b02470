// Vectors of the compile target's widest registers (GCC vector extensions), their partial
// loads and stores, and the recurrent activations on them (FASTRNN_ACTIVATIONS, common.hpp).
//
// float: tanh and sigmoid are computed here, not by libm or Eigen: exp by range reduction and
// a degree-6 polynomial, reciprocals by the hardware estimate and one Newton step (no
// division), tanh below |x| < 0.625 by an odd polynomial (no cancellation near 0). Measured
// against float64 over all float32 inputs of [-20, 20]: at most 3 ulp (tanh) and 2 ulp
// (sigmoid), far inside the parity tests' 1e-5. Every lane is computed by the same
// instructions, so a value never depends on its position in a buffer (which keeps results
// independent of how work is split between threads). NaN propagates; +-inf give the limits.
// double: each lane through the scalar formulas of activations.hpp (the float64 reference
// tests need 1e-10).
#pragma once

#include <cstring>
#include <type_traits>

#if defined(__SSE2__)
#include <immintrin.h>
#endif

#include "activations.hpp"
#include "gemm.hpp"

namespace fastrnn {
namespace detail {
namespace simd {

template <typename T> using V = typename Simd<T>::vec;
template <typename T> constexpr int kW = Simd<T>::W;

using VI = std::int32_t __attribute__((vector_size(kVecBytes), aligned(4)));
static_assert(sizeof(VI) == sizeof(V<float>), "int and float vectors of one width");

template <typename T> inline V<T> load(const T* p) { return *reinterpret_cast<const V<T>*>(p); }
template <typename T> inline void store(T* p, V<T> v) { *reinterpret_cast<V<T>*>(p) = v; }
template <typename T> inline V<T> splat(T x) { return V<T>{} + x; }

// The first n lanes (n <= W) from p, zeros above.
template <typename T> inline V<T> load_n(const T* p, index_t n) {
  if (n >= kW<T>) return load(p);
  V<T> v{};
  std::memcpy(&v, p, n * sizeof(T));
  return v;
}
template <typename T> inline void store_n(T* p, V<T> v, index_t n) {
  if (n >= kW<T>) store(p, v);
  else std::memcpy(p, &v, n * sizeof(T));
}

template <typename To, typename From> inline To bits(From v) {
  static_assert(sizeof(To) == sizeof(From), "same width");
  To t;
  std::memcpy(&t, &v, sizeof(To));
  return t;
}

// ---- float ---------------------------------------------------------------------------------

using VF = V<float>;

// 1/d for d in [1, 2]: the estimate, refined by one Newton step.
inline VF reciprocal(VF d) {
#if defined(__AVX512F__)
  VF r = bits<VF>(_mm512_rcp14_ps(bits<__m512>(d)));
#elif defined(__AVX__)
  VF r = bits<VF>(_mm256_rcp_ps(bits<__m256>(d)));
#elif defined(__SSE2__)  // 32-byte vectors (gemm.hpp's kVecBytes) as two SSE halves
  __m128 half[2];
  std::memcpy(half, &d, sizeof half);
  half[0] = _mm_rcp_ps(half[0]);
  half[1] = _mm_rcp_ps(half[1]);
  VF r;
  std::memcpy(&r, half, sizeof r);
#else
  VF r = 1.0f / d;
#endif
  const VF e = 1.0f - d * r;
  return r + r * e;
}

inline VF vabs(VF x) { return bits<VF>(bits<VI>(x) & 0x7fffffff); }

// exp(x) for x <= 0; below -86 it gives exp(-86) (~4e-38), the smallest value that keeps
// the exponent arithmetic away from denormals.
inline VF exp_nonpositive(VF x) {
  x = x < -86.0f ? splat(-86.0f) : x;
  const float magic = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  const VF t = x * 1.44269504088896341f + magic;
  const VF n = t - magic;
  const VI ni = bits<VI>(t) - bits<VI>(splat(magic));
  VF r = x - n * 0.693145751953125f;  // ln 2, high part (exact in n * hi)
  r = r - n * 1.428606765330187e-06f;  // low part
  VF q = splat(0.0013814606f);               // exp(r) = 1 + r + r^2 q(r), |r| <= ln2 / 2
  q = q * r + 0.008368711f;
  q = q * r + 0.04166839f;
  q = q * r + 0.16666521f;
  q = q * r + 0.49999994f;
  const VF p = (r * r * q + r) + 1.0f;
  return bits<VF>(bits<VI>(p) + (ni << 23));
}

inline VF keep_nan(VF x, VF y) { return x != x ? x : y; }

inline VF sigmoid(VF x) {
  const VF e = exp_nonpositive(-vabs(x));
  const VF r = reciprocal(1.0f + e);
  return keep_nan(x, x >= 0.0f ? r : e * r);
}

inline VF tanh(VF x) {
  const VF ax = vabs(x);
  const VF y = x * x;  // |x| < 0.625: x + x y P(y)
  VF p = splat(-0.005705002f);
  p = p * y + 0.020639103f;
  p = p * y - 0.05373972f;
  p = p * y + 0.13331442f;
  p = p * y - 0.3333328f;
  const VF small = x + x * y * p;
  const VF e = exp_nonpositive(-2.0f * ax);  // else 1 - 2e / (1 + e), sign of x
  const VF big = 1.0f - 2.0f * e * reciprocal(1.0f + e);
  const VF sign = bits<VF>(bits<VI>(x) & static_cast<std::int32_t>(0x80000000u));
  const VF signed_big = bits<VF>(bits<VI>(big) | bits<VI>(sign));
  return keep_nan(x, ax < 0.625f ? small : signed_big);
}

// ---- the activation table on vectors ---------------------------------------------------------

inline VF activation(Activation a, VF x) {
  switch (a) {
    case Activation::Tanh: return tanh(x);
    case Activation::Sigmoid: return sigmoid(x);
    case Activation::HardSigmoid: {
      const VF v = x * static_cast<float>(1.0 / 6.0) + 0.5f;
      return v < 0.0f ? splat(0.0f) : v > 1.0f ? splat(1.0f) : v;
    }
    case Activation::Keras2HardSigmoid: {
      const VF v = x * 0.2f + 0.5f;
      return v < 0.0f ? splat(0.0f) : v > 1.0f ? splat(1.0f) : v;
    }
    case Activation::Relu: return x < 0.0f ? splat(0.0f) : x;
    case Activation::Linear: return x;
  }
  return x;
}

// double: lane by lane through the scalar formulas.
inline V<double> activation(Activation a, V<double> x) {
  double lanes[kW<double>];
  std::memcpy(lanes, &x, sizeof(x));
  act::forward_scalars<double>(a, lanes, lanes, kW<double>);
  std::memcpy(&x, lanes, sizeof(x));
  return x;
}

// ---- derivatives: dy * f'(x) from y = f(x), the formulas of FASTRNN_ACTIVATIONS on vectors --

// (Vec: V<float> or V<double>; S: its lane type.)
template <typename Vec> using Lane = std::remove_cv_t<std::remove_reference_t<decltype(Vec{}[0])>>;
template <typename Vec> inline auto inside01(Vec y) { return (y > Lane<Vec>(0)) & (y < Lane<Vec>(1)); }
template <typename M, typename Vec> inline Vec where(M m, Vec a, Lane<Vec> b) { return m ? a : Vec{} + b; }

template <typename Vec>
inline Vec activation_grad(Activation a, Vec dy, Vec y) {
  using S = Lane<Vec>;
  switch (a) {
#define FASTRNN_SIMD_BACKWARD(E, name, f, df) \
  case Activation::E: return (df);
    FASTRNN_ACTIVATIONS(FASTRNN_SIMD_BACKWARD)
#undef FASTRNN_SIMD_BACKWARD
  }
  return dy;
}

}  // namespace simd
}  // namespace detail
}  // namespace fastrnn
