// LazyPinnedMemory: host memory for the swap pool that is committed and page-locked only as
// it is used. Pinning is expensive: the driver commits, zero-fills and locks every page, so a
// pool pinned whole (cudaHostAlloc) costs at least what zero-filling it costs (seconds for the
// default 4 GiB memory.swap_space_gb, docs/performance.md) and all of it stays resident, in a
// run that may never swap. Here the region is reserved lazily (LazyHostMemory: nothing
// committed, reads as zeros) and registered with cudaHostRegister in chunks of kChunkBytes,
// the first time a range that covers them is about to be written (pin()). What a run pins is
// the chunks its swaps touch; the paged and contiguous managers hand out the lowest free host
// slots first.
//
// cudaMemcpyAsync is correct on pinned and unpinned pages alike; pinning makes a copy an
// asynchronous DMA. The destructor unregisters every pinned range, then unmaps the region.
//
// Move-only. Thread safety: none.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

#include "kernels/lazy_host_memory.h"

namespace kvlab::cuda {

class LazyPinnedMemory {
 public:
  // Pinning granularity: a multiple of the page size, so chunks never share a page.
  static constexpr size_t kChunkBytes = size_t{256} << 10;

  LazyPinnedMemory() = default;
  // Reserves `bytes` rounded up to whole chunks; pins nothing. Throws std::bad_alloc when it
  // cannot be reserved.
  explicit LazyPinnedMemory(size_t bytes);
  ~LazyPinnedMemory();
  LazyPinnedMemory(LazyPinnedMemory&& other) noexcept { swap(other); }
  LazyPinnedMemory& operator=(LazyPinnedMemory&& other) noexcept {
    LazyPinnedMemory(std::move(other)).swap(*this);
    return *this;
  }
  LazyPinnedMemory(const LazyPinnedMemory&) = delete;
  LazyPinnedMemory& operator=(const LazyPinnedMemory&) = delete;

  void* data() const { return memory_.data(); }
  size_t size_bytes() const { return memory_.size_bytes(); }

  // Page-locks every chunk that [offset, offset + bytes) overlaps and is not pinned yet (runs
  // of such chunks in one cudaHostRegister each). Throws CudaError when registration fails.
  // REQUIRES (checked): the range lies inside the region.
  void pin(size_t offset, size_t bytes);
  // Bytes pinned so far (whole chunks).
  size_t pinned_bytes() const { return pinned_bytes_; }

  void swap(LazyPinnedMemory& other) noexcept;

 private:
  struct Range {
    void* base;
    size_t bytes;
  };

  LazyHostMemory memory_;
  std::vector<bool> pinned_;   // per chunk
  std::vector<Range> ranges_;  // what cudaHostRegister registered, to unregister
  size_t pinned_bytes_ = 0;
};

}  // namespace kvlab::cuda
