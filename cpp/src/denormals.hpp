// Denormal floats (magnitudes below ~1.2e-38) cost x86 cores about a hundred times more per
// instruction. Gradients that fade over a long sequence reach them: a seed LSTM training step
// ran 7.5x slower with some initial weights than with others (bench/README.md, "Denormals").
// The recurrent kernels therefore flush them to zero (FTZ) and read them as zero (DAZ), as
// TensorFlow's CPU kernels do (its threads run under a ScopedFlushDenormal): a guard set at
// the top of each kernel and of each of its threads' bodies, which restores the thread's
// previous mode on exit, so code outside the kernels is not affected.
#pragma once

#if defined(__SSE__)
#include <xmmintrin.h>
#endif

namespace fastrnn {
namespace detail {

class FlushDenormals {
 public:
#if defined(__SSE__)
  FlushDenormals() : saved_(_mm_getcsr()) { _mm_setcsr(saved_ | kFtz | kDaz); }
  ~FlushDenormals() { _mm_setcsr(saved_); }
#else
  FlushDenormals() {}  // other architectures: their default mode
#endif
  FlushDenormals(const FlushDenormals&) = delete;
  FlushDenormals& operator=(const FlushDenormals&) = delete;

 private:
#if defined(__SSE__)
  static constexpr unsigned kFtz = 0x8000, kDaz = 0x0040;  // MXCSR bits
  unsigned saved_;
#endif
};

}  // namespace detail
}  // namespace fastrnn
