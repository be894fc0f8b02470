// Packing, activation quantisation and the product tiles of reduced-precision inference
// (quantized.hpp). The CPU-specific tiles are functions compiled for their instruction set
// (target attributes), chosen at run time: the rest of the library needs no special flags.
#include "quantized.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
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

std::atomic<bool> g_portable{false};

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
  if (g_portable.load(std::memory_order_relaxed)) return false;
  return p == Precision::Int8 ? cpu_vnni() : cpu_bf16();
}

// ---- portable tiles -------------------------------------------------------------------------

template <int G, int MR>
void bf16_tile_portable(const std::uint32_t* A, index_t lda, index_t Kg, const std::uint32_t* P,
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
template <int G, int MR>
__attribute__((target("avx512bf16,avx512f,avx512bw,avx512vl"))) void bf16_tile_avx512(
    const std::uint32_t* A, index_t lda, index_t Kg, const std::uint32_t* P, float* out) {
  __m512 acc[MR][G];
  for (int r = 0; r < MR; ++r)
    for (int g = 0; g < G; ++g) acc[r][g] = _mm512_setzero_ps();
  for (index_t k = 0; k < Kg; ++k) {
    __m512bh b[G];
    for (int g = 0; g < G; ++g)
      b[g] = (__m512bh)_mm512_loadu_si512(P + (k * G + g) * QW);
    for (int r = 0; r < MR; ++r) {
      const __m512bh a = (__m512bh)_mm512_set1_epi32(static_cast<int>(A[r * lda + k]));
      for (int g = 0; g < G; ++g) acc[r][g] = _mm512_dpbf16_ps(acc[r][g], a, b[g]);
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int g = 0; g < G; ++g) _mm512_storeu_ps(out + (r * G + g) * QW, acc[r][g]);
}

template <int G, int MR>
__attribute__((target("avx512vnni,avx512f,avx512bw"))) void int8_tile_avx512(
    const std::uint32_t* A, index_t lda, index_t Kg, const std::uint32_t* P, std::int32_t* out) {
  __m512i acc[MR][G];
  for (int r = 0; r < MR; ++r)
    for (int g = 0; g < G; ++g) acc[r][g] = _mm512_setzero_si512();
  for (index_t k = 0; k < Kg; ++k) {
    __m512i b[G];
    for (int g = 0; g < G; ++g) b[g] = _mm512_loadu_si512(P + (k * G + g) * QW);
    for (int r = 0; r < MR; ++r) {
      const __m512i a = _mm512_set1_epi32(static_cast<int>(A[r * lda + k]));
      for (int g = 0; g < G; ++g) acc[r][g] = _mm512_dpbusd_epi32(acc[r][g], a, b[g]);
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int g = 0; g < G; ++g) _mm512_storeu_si512(out + (r * G + g) * QW, acc[r][g]);
}
#endif

// The tile for G gates and MR rows, on the chosen implementation.
template <int G, int MR>
void tile(const Matrix& M, bool use_fast, const std::uint32_t* A, index_t lda,
          const float* ascale, index_t u, float* out) {
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
  const float* sw = M.scale.data() + u * G * QW;
  const std::int32_t* corr = M.corr.data() + u * G * QW;
  for (int r = 0; r < MR; ++r)
    for (int i = 0; i < G * QW; ++i)
      out[r * G * QW + i] =
          static_cast<float>(acc[r * G * QW + i] - corr[i]) * sw[i] * ascale[r];
}

template <int G, int MR = max_rows(G)>
void tile_rows(const Matrix& M, bool use_fast, const std::uint32_t* A, index_t lda,
               const float* ascale, int mr, index_t u, float* out) {
  if constexpr (MR > 1) {
    if (mr < MR) return tile_rows<G, MR - 1>(M, use_fast, A, lda, ascale, mr, u, out);
  }
  tile<G, MR>(M, use_fast, A, lda, ascale, u, out);
}

}  // namespace

void Matrix::pack(Precision p, const float* M, index_t k_rows, index_t h, int gates) {
  precision = p;
  K = k_rows;
  H = h;
  G = gates;
  Kg = words(p, K);
  nub = (H + QW - 1) / QW;
  const index_t GH = G * H, n = per_word(p);
  data.assign(static_cast<std::size_t>(nub) * Kg * G * QW, 0u);
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
          data[((u * Kg + k / n) * G + g) * QW + l] |= bits << (32 / n * (k % n));
        }
        if (p == Precision::Int8) corr[(u * G + g) * QW + l] = 128 * sum;
      }
}

void quantize_rows(Precision p, const float* x, index_t ldx, index_t rows, index_t K,
                   std::uint32_t* out, index_t ldo, float* scales) {
  const index_t Kg = words(p, K);
  for (index_t r = 0; r < rows; ++r) {
    const float* v = x + r * ldx;
    std::uint32_t* o = out + r * ldo;
    if (p == Precision::BFloat16) {
      for (index_t k = 0; k < Kg; ++k) {
        const std::uint32_t lo = bf16(v[2 * k]);
        o[k] = lo | (2 * k + 1 < K ? bf16(v[2 * k + 1]) << 16 : 0u);
      }
      continue;
    }
    float mx = 0.0f;
    for (index_t k = 0; k < K; ++k) mx = std::max(mx, std::fabs(v[k]));
    bool finite = true;
    for (index_t k = 0; k < K; ++k) finite = finite && std::isfinite(v[k]);
    // Non-finite rows: scale NaN (propagates to the outputs), no integer conversion of NaN.
    const float inv = (finite && mx > 0.0f) ? 127.0f / mx : 0.0f;
    scales[r] = finite ? mx / 127.0f : std::numeric_limits<float>::quiet_NaN();
    for (index_t k = 0; k < Kg; ++k) {
      std::uint32_t w = 0;
      for (int j = 0; j < 4; ++j) {
        const index_t kk = 4 * k + j;
        const int q = kk < K ? q8(v[kk], inv) : 0;
        w |= static_cast<std::uint32_t>(q + 128) << (8 * j);
      }
      o[k] = w;
    }
  }
}

void product_tile(const Matrix& M, const std::uint32_t* A, index_t lda, const float* ascale,
                  int mr, index_t u, float* out) {
  const bool use_fast = fast(M.precision);
  switch (M.G) {
    case 1: return tile_rows<1>(M, use_fast, A, lda, ascale, mr, u, out);
    case 3: return tile_rows<3>(M, use_fast, A, lda, ascale, mr, u, out);
    case 4: return tile_rows<4>(M, use_fast, A, lda, ascale, mr, u, out);
    default: throw std::logic_error("quantized product: unsupported gate count");
  }
}

std::size_t workspace_bytes(const RnnSpec& s, Precision p, int gates) {
  const std::size_t B = s.batch, T = s.steps, G = gates;
  const std::size_t nt = s.threads > 0 ? s.threads : get_num_threads();
  const std::size_t nub = (s.hidden + QW - 1) / QW, Hp = nub * QW;
  const std::size_t kx = words(p, s.input), kh = words(p, s.hidden);
  // Every buffer of the loop (quantized_loop.hpp), each rounded up to 64 bytes.
  const std::size_t floats = T * B * nub * G * QW + 5 * B * Hp + 2 * nub * G * QW +
                             nt * (B + max_rows(gates) * G * QW) + B * T;
  const std::size_t n_words = B * T * kx + nt * B * kh;
  return 4 * (floats + n_words) + 16 * 64;
}

}  // namespace quant
}  // namespace detail

const char* precision_isa(Precision p) {
  if (p == Precision::Float32) return "float32";
  if (!detail::quant::fast(p)) return "portable";
  return p == Precision::Int8 ? "avx512_vnni" : "avx512_bf16";
}

void set_precision_portable(bool on) {
  detail::quant::g_portable.store(on, std::memory_order_relaxed);
}
}  // namespace fastrnn
