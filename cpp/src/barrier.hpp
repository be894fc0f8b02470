// A barrier for the threads of one OpenMP team, for loops that meet once per time step (a few
// microseconds apart). The last thread to arrive releases the others by bumping a generation
// counter on its own cache line; the others spin on it for a few microseconds (the usual
// wait, when every thread has a core), then sleep on it (Linux futex; elsewhere they yield),
// so that a thread sharing its core with a waiting team mate, on a machine with more runnable
// threads than cores, gets the core at once instead of after a time slice. Memory written
// before wait() by any thread is visible to all threads after it.
#pragma once

#include <atomic>
#include <chrono>
#include <climits>
#include <thread>

#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif
#if defined(__SSE2__)
#include <immintrin.h>
#endif

namespace fastrnn {
namespace detail {

class SpinBarrier {
 public:
  // Every thread of the team calls this with the team size before its first wait().
  void join(int threads) { threads_.store(threads, std::memory_order_relaxed); }

  void wait() {
    const int n = threads_.load(std::memory_order_relaxed);
    if (n <= 1) return;
    const unsigned gen = gen_.load(std::memory_order_relaxed);
    if (count_.fetch_add(1, std::memory_order_acq_rel) == n - 1) {
      count_.store(0, std::memory_order_relaxed);
      gen_.store(gen + 1, std::memory_order_seq_cst);
      if (sleepers_.load(std::memory_order_seq_cst) > 0) wake();
      return;
    }
    const auto start = std::chrono::steady_clock::now();
    for (unsigned spins = 1; gen_.load(std::memory_order_acquire) == gen; ++spins) {
      pause();
      if (spins % 64 == 0 && std::chrono::steady_clock::now() - start > kSpinFor) {
        sleepers_.fetch_add(1, std::memory_order_seq_cst);
        while (gen_.load(std::memory_order_seq_cst) == gen) sleep(gen);
        sleepers_.fetch_sub(1, std::memory_order_relaxed);
        break;
      }
    }
  }

 private:
  static constexpr std::chrono::microseconds kSpinFor{30};
  static void pause() {
#if defined(__SSE2__)
    _mm_pause();
#endif
  }
  // Sleeps while the generation is still `gen` (may return early).
  void sleep(unsigned gen) {
#if defined(__linux__)
    syscall(SYS_futex, reinterpret_cast<unsigned*>(&gen_), FUTEX_WAIT_PRIVATE, gen, nullptr,
            nullptr, 0);
#else
    (void)gen;
    std::this_thread::yield();
#endif
  }
  void wake() {
#if defined(__linux__)
    syscall(SYS_futex, reinterpret_cast<unsigned*>(&gen_), FUTEX_WAKE_PRIVATE, INT_MAX, nullptr,
            nullptr, 0);
#endif
  }
  static_assert(sizeof(std::atomic<unsigned>) == sizeof(unsigned), "futex word");
  alignas(64) std::atomic<int> count_{0};
  std::atomic<int> sleepers_{0};
  alignas(64) std::atomic<unsigned> gen_{0};
  std::atomic<int> threads_{1};
};

}  // namespace detail
}  // namespace fastrnn
