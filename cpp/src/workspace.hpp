// Kernel workspaces: buffers an RnnKernel keeps between calls, so that repeated calls (one
// per training step) reuse warm pages instead of faulting in fresh memory each time. They hold
// the input projection and the gate gradients, [B,T,G*H] arrays that every time step reads or
// writes one row per sample, T*G*H elements apart: with 4 KiB pages each row is its own TLB
// entry, so large buffers are 2 MiB-aligned and advised as huge pages (Linux, THP "madvise").
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

namespace fastrnn {
namespace detail {

class Workspace {
 public:
  // At least `bytes`, 64-byte aligned (2 MiB when large); the contents are undefined.
  void* reserve(std::size_t bytes);

 private:
  struct Free { void operator()(void* p) const; };
  std::unique_ptr<void, Free> buf_;
  std::size_t cap_ = 0;
};

// Workspaces for concurrent calls: each call takes one (a new one when all are taken) and
// gives it back, so one thread's calls keep reusing the same buffer. Workspaces hold nothing
// between calls, so the kernels of a process share one pool: a model's layers, called one
// after the other, use the same memory, as many buffers exist as calls ever ran at once.
class WorkspacePool {
 public:
  static WorkspacePool& shared();

  class Lease {
   public:
    Lease(WorkspacePool& pool, std::unique_ptr<Workspace> ws) : pool_(pool), ws_(std::move(ws)) {}
    ~Lease() { pool_.give_back(std::move(ws_)); }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    Workspace& operator*() { return *ws_; }

   private:
    WorkspacePool& pool_;
    std::unique_ptr<Workspace> ws_;
  };
  Lease take();

 private:
  void give_back(std::unique_ptr<Workspace> ws);
  std::mutex mutex_;
  std::vector<std::unique_ptr<Workspace>> free_;
};

}  // namespace detail
}  // namespace fastrnn
