// Which code the kernels run: fastrnn::isa() (common.hpp). A native build (FASTRNN_NATIVE=ON)
// has one, compiled for the build machine (a generic one where there is no dispatch); a
// portable build (FASTRNN_DISPATCH, see isa.hpp)
// picks its variant here, once: the best the CPU and the OS support, or the one FASTRNN_ISA
// names if that is supported.
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

#include "fastrnn/common.hpp"

#ifdef FASTRNN_DISPATCH
#include <cpuid.h>

#include "isa.hpp"
#endif

namespace fastrnn {
namespace {

// FASTRNN_ISA's value, or "" when unset.
std::string requested_isa() {
  const char* v = std::getenv("FASTRNN_ISA");
  return v ? v : "";
}

#ifdef FASTRNN_DISPATCH

enum Level { kBaseline, kAvx2, kAvx512, kLevels };
constexpr const char* kLevelNames[kLevels] = {"baseline", "avx2", "avx512"};
constexpr const char* kLevelRequirements[kLevels] = {
    "x86-64", "x86-64-v3: AVX2, FMA, F16C, BMI1/2, LZCNT, MOVBE, with OS support of AVX state",
    "x86-64-v4: AVX-512 F/BW/CD/DQ/VL, with OS support of AVX-512 state"};

bool all(unsigned reg, unsigned bits) { return (reg & bits) == bits; }

// The highest level the CPU has and the OS has enabled (XCR0 states), from cpuid/xgetbv.
Level cpu_level() {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return kBaseline;
  const unsigned c1 = c;
  // x86-64-v2 (part of v3), then v3's AVX, FMA, F16C, MOVBE, and XSAVE enabled by the OS.
  if (!all(c1, bit_SSE3 | bit_SSSE3 | bit_SSE4_1 | bit_SSE4_2 | bit_POPCNT | bit_CMPXCHG16B |
                   bit_AVX | bit_FMA | bit_F16C | bit_MOVBE | bit_OSXSAVE))
    return kBaseline;
  unsigned xcr0_lo, xcr0_hi;
  __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
  if (!all(xcr0_lo, 0x6)) return kBaseline;  // XMM and YMM state
  if (!__get_cpuid(0x80000001, &a, &b, &c, &d) || !all(c, bit_LAHF_LM | bit_LZCNT))
    return kBaseline;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !all(b, bit_AVX2 | bit_BMI | bit_BMI2))
    return kBaseline;
  const bool v4 = all(b, bit_AVX512F | bit_AVX512BW | bit_AVX512CD | bit_AVX512DQ |
                             bit_AVX512VL) &&
                  all(xcr0_lo, 0xe6);  // and opmask, ZMM0-15 upper halves, ZMM16-31 state
  return v4 ? kAvx512 : kAvx2;
}

Level chosen_level() {
  const Level best = cpu_level();
  const std::string want = requested_isa();
  if (want.empty()) return best;
  for (int l = 0; l < kLevels; ++l) {
    if (want != kLevelNames[l]) continue;
    if (l > best)
      throw std::runtime_error(
          "FASTRNN_ISA='" + want + "': this CPU lacks it (" + kLevelRequirements[l] +
          "); expected one of the variants it supports, up to '" + kLevelNames[best] +
          "' (baseline < avx2 < avx512), or unset for the best");
    return static_cast<Level>(l);
  }
  throw std::runtime_error("FASTRNN_ISA='" + want +
                           "': unknown variant; expected one of 'baseline', 'avx2', 'avx512' "
                           "(or unset for the best the CPU supports)");
}

struct Chosen {
  Level level;
  const detail::IsaTable* table;
};

const Chosen& chosen() {
  static const Chosen c = [] {
    const Level l = chosen_level();
    const detail::IsaTable* tables[kLevels] = {&fastrnn_isa_baseline, &fastrnn_isa_avx2,
                                               &fastrnn_isa_avx512};
    return Chosen{l, tables[l]};
  }();  // a throw leaves it unset: the next call tries (and throws) again
  return c;
}

}  // namespace

namespace detail {
const IsaTable& active_isa() { return *chosen().table; }
}  // namespace detail

const char* isa() { return kLevelNames[chosen().level]; }

#else  // one build: for the build machine, or (no dispatch for this target) the default

#ifdef FASTRNN_NATIVE_BUILD
constexpr const char* kBuild = "native";
#else
constexpr const char* kBuild = "generic";
#endif

bool check_request() {
  const std::string want = requested_isa();
  if (!want.empty() && want != kBuild)
    throw std::runtime_error(
        "FASTRNN_ISA='" + want + "': this build has no runtime dispatch (its kernels are "
        "compiled for one target, '" + kBuild + "'); expected '" + kBuild + "' or unset. A "
        "build with FASTRNN_NATIVE=OFF on x86-64 Linux has the variants 'baseline', 'avx2' "
        "and 'avx512'");
  return true;
}

}  // namespace

const char* isa() {
  static const bool checked = check_request();
  (void)checked;
  return kBuild;
}

#endif

}  // namespace fastrnn
