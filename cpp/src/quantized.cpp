// Packing, activation quantisation and the product tiles of reduced-precision inference
// (quantized.hpp). The CPU-specific tiles are functions compiled for their instruction set
// (target attributes), chosen at run time: the rest of the library needs no special flags.
#include "quantized.hpp"

#include "simd.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif
#define FASTRNN_QUANT_X86 1
#endif

namespace fastrnn {
namespace detail {
namespace quant {
namespace {

// float -> bfloat16, round to nearest even; NaN stays a (quiet) NaN.
inline std::uint32_t bf16(float f) {
  std::uint32_t b;
  std::memcpy(&b, &f, 4);
  if ((b & 0x7fffffffu) > 0x7f800000u) return ((b >> 16) | 0x40u) & 0xffffu;
  return (b + 0x7fffu + ((b >> 16) & 1u)) >> 16;
}

inline float from_bf16(std::uint32_t h) {
  const std::uint32_t b = h << 16;
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}

// rint(v * inv) clamped to [-127, 127] (v * inv is within it up to rounding).
inline int q8(float v, float inv) {
  const float r = std::nearbyint(v * inv);
  return static_cast<int>(std::min(127.0f, std::max(-127.0f, r)));
}

std::atomic<PrecisionIsa> g_limit{PrecisionIsa::Best};

bool cpu_bf16() {
#ifdef FASTRNN_QUANT_X86
  static const bool yes = __builtin_cpu_supports("avx512bf16");
  return yes;
#else
  return false;
#endif
}

bool cpu_vnni() {
#ifdef FASTRNN_QUANT_X86
  static const bool yes = __builtin_cpu_supports("avx512vnni") &&
                          __builtin_cpu_supports("avx512bw");
  return yes;
#else
  return false;
#endif
}

bool fast(Precision p) {
  if (g_limit.load(std::memory_order_relaxed) == PrecisionIsa::Portable) return false;
  return p == Precision::Int8 ? cpu_vnni() : cpu_bf16();
}

// AMX: the CPU has the tile unit with bf16 and int8 products, and Linux grants this process
// the tile data state (arch_prctl ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA).
bool cpu_amx() {
#if defined(FASTRNN_QUANT_X86) && defined(__linux__) && defined(SYS_arch_prctl)
  static const bool yes = [] {
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
    const unsigned need = (1u << 22) | (1u << 24) | (1u << 25);  // AMX-BF16, -TILE, -INT8
    if ((d & need) != need) return false;
    return syscall(SYS_arch_prctl, 0x1023, 18) == 0;
  }();
  return yes;
#else
  return false;
#endif
}

bool amx(Precision p) {
  return g_limit.load(std::memory_order_relaxed) == PrecisionIsa::Best && fast(p) && cpu_amx();
}

// ---- portable tiles -------------------------------------------------------------------------

// Not vectorised by the compiler: GCC 12's vectorised loop gives wrong sums for one gate
// (SimpleRNN) under -march=x86-64-v3 (the portable build's AVX2 variant; tests/test_quantized.py
// with FASTRNN_ISA=avx2 and the portable path).
template <int G, int MR>
__attribute__((optimize("no-tree-vectorize"))) void bf16_tile_portable(const std::uint32_t* A, index_t lda, index_t Kg, const std::uint32_t* P,
                        float* out) {
  float acc[MR][G][QW] = {};
  for (index_t k = 0; k < Kg; ++k) {
    const std::uint32_t* p = P + k * G * QW;
    for (int r = 0; r < MR; ++r) {
      const std::uint32_t a = A[r * lda + k];
      const float a0 = from_bf16(a & 0xffffu), a1 = from_bf16(a >> 16);
      for (int g = 0; g < G; ++g)
        for (int l = 0; l < QW; ++l) {
          const std::uint32_t w = p[g * QW + l];
          acc[r][g][l] += a0 * from_bf16(w & 0xffffu) + a1 * from_bf16(w >> 16);
        }
    }
  }
  std::memcpy(out, acc, sizeof(acc));
}

template <int G, int MR>
void int8_tile_portable(const std::uint32_t* A, index_t lda, index_t Kg, const std::uint32_t* P,
                        std::int32_t* out) {
  std::int32_t acc[MR][G][QW] = {};
  for (index_t k = 0; k < Kg; ++k) {
    const std::uint32_t* p = P + k * G * QW;
    for (int r = 0; r < MR; ++r) {
      const std::uint32_t a = A[r * lda + k];
      for (int g = 0; g < G; ++g)
        for (int l = 0; l < QW; ++l) {
          const std::uint32_t w = p[g * QW + l];
          std::int32_t s = 0;
          for (int j = 0; j < 4; ++j)
            s += static_cast<std::int32_t>((a >> (8 * j)) & 0xffu) *
                 static_cast<std::int32_t>(static_cast<std::int8_t>((w >> (8 * j)) & 0xffu));
          acc[r][g][l] += s;
        }
    }
  }
  std::memcpy(out, acc, sizeof(acc));
}

// ---- AVX-512 tiles --------------------------------------------------------------------------
#ifdef FASTRNN_QUANT_X86
// Tiles of 1 or 2 rows split the sum over k in two halves (even and odd k), each with its own
// accumulators, so that twice as many independent chains hide the instructions' latency.
template <int MR>
constexpr int k_split() { return MR <= 2 ? 2 : 1; }

template <int G, int MR>
__attribute__((target("avx512bf16,avx512f,avx512bw,avx512vl"))) void bf16_tile_avx512(
    const std::uint32_t* A, index_t lda, index_t Kg, const std::uint32_t* P, float* out) {
  constexpr int KS = k_split<MR>();
  __m512 acc[KS][MR][G];
#pragma GCC unroll 2
  for (int s = 0; s < KS; ++s)
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
      for (int g = 0; g < G; ++g) acc[s][r][g] = _mm512_setzero_ps();
  for (index_t k0 = 0; k0 < Kg; k0 += KS)
#pragma GCC unroll 2
    for (int s = 0; s < KS; ++s) {
      const index_t k = k0 + s;
      if (KS > 1 && k >= Kg) break;
      __m512bh b[G];
#pragma GCC unroll 4
      for (int g = 0; g < G; ++g)
        b[g] = (__m512bh)_mm512_loadu_si512(P + (k * G + g) * QW);
#pragma GCC unroll 8
      for (int r = 0; r < MR; ++r) {
        const __m512bh a = (__m512bh)_mm512_set1_epi32(static_cast<int>(A[r * lda + k]));
#pragma GCC unroll 4
        for (int g = 0; g < G; ++g) acc[s][r][g] = _mm512_dpbf16_ps(acc[s][r][g], a, b[g]);
      }
    }
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int g = 0; g < G; ++g) {
      __m512 v = acc[0][r][g];
      if constexpr (KS > 1) v = _mm512_add_ps(v, acc[1][r][g]);
      _mm512_storeu_ps(out + (r * G + g) * QW, v);
    }
}

template <int G, int MR>
__attribute__((target("avx512vnni,avx512f,avx512bw"))) void int8_tile_avx512(
    const std::uint32_t* A, index_t lda, index_t Kg, const std::uint32_t* P, std::int32_t* out) {
  constexpr int KS = k_split<MR>();
  __m512i acc[KS][MR][G];
#pragma GCC unroll 2
  for (int s = 0; s < KS; ++s)
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
      for (int g = 0; g < G; ++g) acc[s][r][g] = _mm512_setzero_si512();
  for (index_t k0 = 0; k0 < Kg; k0 += KS)
#pragma GCC unroll 2
    for (int s = 0; s < KS; ++s) {
      const index_t k = k0 + s;
      if (KS > 1 && k >= Kg) break;
      __m512i b[G];
#pragma GCC unroll 4
      for (int g = 0; g < G; ++g) b[g] = _mm512_loadu_si512(P + (k * G + g) * QW);
#pragma GCC unroll 8
      for (int r = 0; r < MR; ++r) {
        const __m512i a = _mm512_set1_epi32(static_cast<int>(A[r * lda + k]));
#pragma GCC unroll 4
        for (int g = 0; g < G; ++g) acc[s][r][g] = _mm512_dpbusd_epi32(acc[s][r][g], a, b[g]);
      }
    }
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int g = 0; g < G; ++g) {
      __m512i v = acc[0][r][g];
      if constexpr (KS > 1) v = _mm512_add_epi32(v, acc[1][r][g]);
      _mm512_storeu_si512(out + (r * G + g) * QW, v);
    }
}
#endif

#ifdef FASTRNN_QUANT_X86
// Tile c += tile a x tile b, int8 (u8 x s8) or bfloat16; tile numbers are literals (the
// intrinsics paste them into the instruction).
#define FASTRNN_TDP(kInt8, c, a, b)    \
  do {                                 \
    if constexpr (kInt8)               \
      _tile_dpbusd(c, a, b);           \
    else                               \
      _tile_dpbf16ps(c, a, b);         \
  } while (0)

struct alignas(64) TileConfig {
  std::uint8_t palette = 1, start_row = 0, reserved[14] = {};
  std::uint16_t colsb[16] = {};
  std::uint8_t rows[16] = {};
};

// 16 rows of A x unit block P of G gates, Kp words deep (a multiple of 16), into out
// [16][G][QW] (float for bf16, int32 for int8). Tiles (configured by TileScope): 0..3 the
// gates' sums, 4 A, 5..7 B.
template <int G, bool kInt8>
__attribute__((target("amx-tile,amx-bf16,amx-int8"))) void amx_tile(
    const std::uint32_t* A, index_t lda, index_t Kp, const std::uint32_t* P, void* out) {
  _tile_zero(0);
  if constexpr (G > 1) _tile_zero(1);
  if constexpr (G > 2) _tile_zero(2);
  if constexpr (G > 3) _tile_zero(3);
  const index_t sa = lda * 4, sb = G * QW * 4;
  for (index_t k = 0; k < Kp; k += 16) {
    const std::uint32_t* b = P + k * G * QW;
    _tile_loadd(4, A + k, sa);
    _tile_loadd(5, b, sb);
    if constexpr (G > 1) _tile_loadd(6, b + QW, sb);
    if constexpr (G > 2) _tile_loadd(7, b + 2 * QW, sb);
    FASTRNN_TDP(kInt8, 0, 4, 5);
    if constexpr (G > 1) FASTRNN_TDP(kInt8, 1, 4, 6);
    if constexpr (G > 2) FASTRNN_TDP(kInt8, 2, 4, 7);
    if constexpr (G > 3) {
      _tile_loadd(5, b + 3 * QW, sb);
      FASTRNN_TDP(kInt8, 3, 4, 5);
    }
  }
  auto* o = static_cast<std::uint32_t*>(out);
  _tile_stored(0, o, sb);
  if constexpr (G > 1) _tile_stored(1, o + QW, sb);
  if constexpr (G > 2) _tile_stored(2, o + 2 * QW, sb);
  if constexpr (G > 3) _tile_stored(3, o + 3 * QW, sb);
}

// 32 rows of A (two A tiles) x gates [g0, g0 + GP) of unit block P (G gates), into out
// [32][G][QW]: each weight tile loaded serves both halves. Tiles: 0, 1 (rows 0-15, 16-31) of
// gate g0, 2, 3 of gate g0 + 1, 4, 5 A, 6, 7 B.
template <int GP, bool kInt8>
__attribute__((target("amx-tile,amx-bf16,amx-int8"))) void amx_pass32(
    const std::uint32_t* A, index_t lda, index_t Kp, const std::uint32_t* P, int G, int g0,
    std::uint32_t* out) {
  _tile_zero(0);
  _tile_zero(1);
  if constexpr (GP > 1) {
    _tile_zero(2);
    _tile_zero(3);
  }
  const index_t sa = lda * 4, sb = G * QW * 4;
  const std::uint32_t* A1 = A + 16 * lda;
  for (index_t k = 0; k < Kp; k += 16) {
    const std::uint32_t* b = P + k * G * QW + g0 * QW;
    _tile_loadd(4, A + k, sa);
    _tile_loadd(5, A1 + k, sa);
    _tile_loadd(6, b, sb);
    FASTRNN_TDP(kInt8, 0, 4, 6);
    FASTRNN_TDP(kInt8, 1, 5, 6);
    if constexpr (GP > 1) {
      _tile_loadd(7, b + QW, sb);
      FASTRNN_TDP(kInt8, 2, 4, 7);
      FASTRNN_TDP(kInt8, 3, 5, 7);
    }
  }
  std::uint32_t* o = out + g0 * QW;
  _tile_stored(0, o, sb);
  _tile_stored(1, o + 16 * G * QW, sb);
  if constexpr (GP > 1) {
    _tile_stored(2, o + QW, sb);
    _tile_stored(3, o + 16 * G * QW + QW, sb);
  }
}

template <int G, bool kInt8>
void amx_tile32(const std::uint32_t* A, index_t lda, index_t Kp, const std::uint32_t* P,
                void* out) {
  auto* o = static_cast<std::uint32_t*>(out);
  for (int g0 = 0; g0 + 1 < G; g0 += 2) amx_pass32<2, kInt8>(A, lda, Kp, P, G, g0, o);
  if constexpr (G % 2 == 1) amx_pass32<1, kInt8>(A, lda, Kp, P, G, G - 1, o);
}

// Every tile 16 rows of 64 bytes.
__attribute__((target("amx-tile"))) void amx_configure() {
  TileConfig cfg;
  for (int t = 0; t < 8; ++t) {
    cfg.colsb[t] = 64;
    cfg.rows[t] = 16;
  }
  // Not _tile_loadconfig: GCC 12's declares only the pointer as read, so the stores that fill
  // the configuration can be dropped as dead.
  asm volatile("ldtilecfg %0" : : "m"(cfg));
}

__attribute__((target("amx-tile"))) void amx_release() { _tile_release(); }
#endif

// int8: out[r][i] = float(acc[r][i] - corr[i]) * s_w[i] * s_a[r] for unit block u.
template <int G>
void dequantize(const Matrix& M, const std::int32_t* acc, const float* ascale, index_t lds,
                int mr, index_t u, float* out) {
  const float* sw = M.scale.data() + u * G * QW;
  const std::int32_t* corr = M.corr.data() + u * G * QW;
  for (int r = 0; r < mr; ++r)
    for (int i = 0; i < G * QW; ++i)
      out[r * G * QW + i] =
          static_cast<float>(acc[r * G * QW + i] - corr[i]) * sw[i] * ascale[r * lds];
}

// The tile for G gates and MR rows, on the chosen implementation.
template <int G, int MR>
void tile(const Matrix& M, bool use_fast, const std::uint32_t* A, index_t lda,
          const float* ascale, index_t lds, index_t u, float* out) {
  const std::uint32_t* P = M.block(u);
  if (M.precision == Precision::BFloat16) {
#ifdef FASTRNN_QUANT_X86
    if (use_fast) return bf16_tile_avx512<G, MR>(A, lda, M.Kg, P, out);
#endif
    return bf16_tile_portable<G, MR>(A, lda, M.Kg, P, out);
  }
  std::int32_t acc[MR * G * QW];
#ifdef FASTRNN_QUANT_X86
  if (use_fast) int8_tile_avx512<G, MR>(A, lda, M.Kg, P, acc);
  else
#endif
    int8_tile_portable<G, MR>(A, lda, M.Kg, P, acc);
  dequantize<G>(M, acc, ascale, lds, MR, u, out);
}

// mr rows (4 <= mr <= 32) of AMX tiles.
template <int G>
void tile_amx(const Matrix& M, const std::uint32_t* A, index_t lda, const float* ascale,
              index_t lds, int mr, index_t u, float* out) {
#ifdef FASTRNN_QUANT_X86
  const bool wide = mr > 16;
  if (M.precision == Precision::BFloat16) {
    if (wide) return amx_tile32<G, false>(A, lda, M.Kp, M.block(u), out);
    return amx_tile<G, false>(A, lda, M.Kp, M.block(u), out);
  }
  alignas(64) std::int32_t acc[kTileRowsMax * G * QW];
  if (wide) amx_tile32<G, true>(A, lda, M.Kp, M.block(u), acc);
  else amx_tile<G, true>(A, lda, M.Kp, M.block(u), acc);
  dequantize<G>(M, acc, ascale, lds, mr, u, out);
#else
  (void)M; (void)A; (void)lda; (void)ascale; (void)lds; (void)mr; (void)u; (void)out;
#endif
}

template <int G, int MR = max_rows(G)>
void tile_rows(const Matrix& M, bool use_fast, const std::uint32_t* A, index_t lda,
               const float* ascale, index_t lds, int mr, index_t u, float* out) {
  if constexpr (MR > 1) {
    if (mr < MR) return tile_rows<G, MR - 1>(M, use_fast, A, lda, ascale, lds, mr, u, out);
  }
  tile<G, MR>(M, use_fast, A, lda, ascale, lds, u, out);
}

}  // namespace

void Matrix::pack(Precision p, const float* M, index_t k_rows, index_t h, int gates) {
  precision = p;
  K = k_rows;
  H = h;
  G = gates;
  Kg = words(p, K);
  Kp = padded_words(p, K);
  nub = (H + QW - 1) / QW;
  const index_t GH = G * H, n = per_word(p);
  data.assign(static_cast<std::size_t>(nub) * Kp * G * QW, 0u);
  scale.assign(p == Precision::Int8 ? nub * G * QW : 0, 0.0f);
  corr.assign(p == Precision::Int8 ? nub * G * QW : 0, 0);
  for (index_t u = 0; u < nub; ++u)
    for (int g = 0; g < G; ++g)
      for (int l = 0; l < QW; ++l) {
        const index_t j = u * QW + l;
        if (j >= H) continue;
        const index_t c = g * H + j;
        float inv = 0.0f;
        if (p == Precision::Int8) {
          float mx = 0.0f;
          for (index_t k = 0; k < K; ++k) mx = std::max(mx, std::fabs(M[k * GH + c]));
          if (mx > 0.0f) {
            inv = 127.0f / mx;
            scale[(u * G + g) * QW + l] = mx / 127.0f;
          }
        }
        std::int32_t sum = 0;
        for (index_t k = 0; k < K; ++k) {
          const float v = M[k * GH + c];
          std::uint32_t bits;
          if (p == Precision::Int8) {
            const int q = q8(v, inv);
            sum += q;
            bits = static_cast<std::uint32_t>(q) & 0xffu;
          } else {
            bits = bf16(v);
          }
          data[((u * Kp + k / n) * G + g) * QW + l] |= bits << (32 / n * (k % n));
        }
        if (p == Precision::Int8) corr[(u * G + g) * QW + l] = 128 * sum;
      }
}

namespace {

using VF = simd::V<float>;
using VI = simd::VI;
constexpr int VW = simd::kW<float>;
typedef std::uint16_t VU16 __attribute__((vector_size(VW * 2)));
typedef std::uint8_t VU8 __attribute__((vector_size(VW)));

// bf16() of every lane.
inline VI bf16_lanes(VF v) {
  const VI b = simd::bits<VI>(v);
  const VI rounded = (b + 0x7fff + ((b >> 16) & 1)) >> 16;
  const VI nan = ((b >> 16) | 0x40) & 0xffff;
  return (b & 0x7fffffff) > 0x7f800000 ? nan : rounded & 0xffff;
}

// rint() of lanes within +-2^22 (round to nearest even, as nearbyint in the default mode).
inline VF round_lanes(VF v) {
  const float magic = 12582912.0f;  // 1.5 * 2^23
  return (v + magic) - magic;
}

// One row as bfloat16 (element k at halfword k) or as q + 128 bytes (element k at byte k):
// the word layout of quantized.hpp; the rest up to `bytes` zeroed.
void bf16_row(const float* v, index_t K, std::uint16_t* o) {
  index_t k = 0;
  for (; k + VW <= K; k += VW) {
    const VU16 h = __builtin_convertvector(bf16_lanes(simd::load(v + k)), VU16);
    std::memcpy(o + k, &h, sizeof(h));
  }
  for (; k < K; ++k) o[k] = static_cast<std::uint16_t>(bf16(v[k]));
}

// Returns the row's scale.
float int8_row(const float* v, index_t K, std::uint8_t* o) {
  VF mx{}, poison{};
  index_t k = 0;
  for (; k + VW <= K; k += VW) {
    const VF x = simd::load(v + k);
    mx = simd::vabs(x) > mx ? simd::vabs(x) : mx;
    poison += x * 0.0f;   // NaN when any value is not finite
  }
  float m = 0.0f, bad = 0.0f;
  for (int l = 0; l < VW; ++l) {
    m = std::max(m, mx[l]);
    bad += poison[l];
  }
  for (index_t j = k; j < K; ++j) {
    m = std::max(m, std::fabs(v[j]));
    bad += v[j] * 0.0f;
  }
  // Non-finite rows: scale NaN (propagates to the outputs), no integer conversion of NaN.
  const bool finite = bad == 0.0f;
  const float inv = (finite && m > 0.0f) ? 127.0f / m : 0.0f;
  for (k = 0; k + VW <= K; k += VW) {
    VF prod = simd::load(v + k) * inv;
#if defined(FASTRNN_QUANT_X86) && defined(__FMA__)  // (without FMA there is nothing to fuse)
    asm("" : "+v"(prod));   // rounded on its own, as rint(v * inv): no fused multiply-add
#endif
    VF q = finite ? round_lanes(prod) : VF{};
    q = q > 127.0f ? simd::splat(127.0f) : q < -127.0f ? simd::splat(-127.0f) : q;
    const VU8 b = __builtin_convertvector(__builtin_convertvector(q, VI) + 128, VU8);
    std::memcpy(o + k, &b, sizeof(b));
  }
  for (; k < K; ++k) o[k] = static_cast<std::uint8_t>((finite ? q8(v[k], inv) : 0) + 128);
  return finite ? m / 127.0f : std::numeric_limits<float>::quiet_NaN();
}

}  // namespace

void quantize_rows(Precision p, const float* x, index_t ldx, index_t rows, index_t K,
                   std::uint32_t* out, index_t ldo, float* scales) {
  const bool i8 = p == Precision::Int8;
  const index_t used = i8 ? K : 2 * K;   // bytes of the K values
  for (index_t r = 0; r < rows; ++r) {
    auto* o = reinterpret_cast<std::uint8_t*>(out + r * ldo);
    if (i8) scales[r] = int8_row(x + r * ldx, K, o);
    else bf16_row(x + r * ldx, K, reinterpret_cast<std::uint16_t*>(o));
    // Padding: q = 0 (byte 128) up to the word boundary, then zero words.
    const index_t word_end = words(p, K) * 4;
    std::memset(o + used, i8 ? 128 : 0, word_end - used);
    std::memset(o + word_end, 0, ldo * 4 - word_end);
  }
}

TileScope::TileScope(Precision p) : on_(amx(p)) {
#ifdef FASTRNN_QUANT_X86
  if (on_) amx_configure();
#endif
}

TileScope::~TileScope() {
#ifdef FASTRNN_QUANT_X86
  if (on_) amx_release();
#endif
}

int tile_rows(Precision p, int G) { return amx(p) ? kTileRowsMax : max_rows(G); }

void product_tile(const Matrix& M, const std::uint32_t* A, index_t lda, const float* ascale,
                  index_t lds, int mr, index_t u, float* out) {
  if (mr >= 4 && amx(M.precision)) {
    switch (M.G) {
      case 1: return tile_amx<1>(M, A, lda, ascale, lds, mr, u, out);
      case 3: return tile_amx<3>(M, A, lda, ascale, lds, mr, u, out);
      case 4: return tile_amx<4>(M, A, lda, ascale, lds, mr, u, out);
      default: break;
    }
  }
  const bool use_fast = fast(M.precision);
  switch (M.G) {
    case 1: return tile_rows<1>(M, use_fast, A, lda, ascale, lds, mr, u, out);
    case 3: return tile_rows<3>(M, use_fast, A, lda, ascale, lds, mr, u, out);
    case 4: return tile_rows<4>(M, use_fast, A, lda, ascale, lds, mr, u, out);
    default: throw std::logic_error("quantized product: unsupported gate count");
  }
}

std::size_t workspace_bytes(const RnnSpec& s, Precision p, int gates) {
  const std::size_t B = s.batch, T = s.steps, G = gates;
  const std::size_t nt = s.threads > 0 ? s.threads : get_num_threads();
  const std::size_t nub = (s.hidden + QW - 1) / QW, Hp = nub * QW;
  const std::size_t kx = padded_words(p, s.input), kh = padded_words(p, s.hidden);
  const std::size_t R = kTileRowsMax;
  // Every buffer of the loop (quantized_loop.hpp), each rounded up to 64 bytes.
  const std::size_t xproj = precompute_input(s.batch) ? T * B * nub * G * QW : 0;
  // x quantised: one copy per thread at most (column split).
  const std::size_t floats = xproj + 5 * B * Hp + 2 * nub * G * QW + nt * (B + 2 * R * G * QW) +
                             nt * (T + R) * B;
  const std::size_t n_words = nt * (T + R) * B * kx + nt * (B + R) * kh;
  return 4 * (floats + n_words) + 16 * 64;
}

}  // namespace quant
}  // namespace detail

const char* precision_isa(Precision p) {
  if (p == Precision::Float32) return "float32";
  if (!detail::quant::fast(p)) return "portable";
  if (detail::quant::amx(p)) return p == Precision::Int8 ? "amx_int8" : "amx_bf16";
  return p == Precision::Int8 ? "avx512_vnni" : "avx512_bf16";
}

void limit_precision_isa(PrecisionIsa limit) {
  detail::quant::g_limit.store(limit, std::memory_order_relaxed);
}
}  // namespace fastrnn
