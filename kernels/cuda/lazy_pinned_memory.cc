#include "kernels/cuda/lazy_pinned_memory.h"

#include <cuda_runtime_api.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <string>

#include "core/errors.h"
#include "kernels/cuda/cuda_check.h"

namespace kvlab::cuda {

namespace {

size_t whole_chunks(size_t bytes) {
  return (bytes + LazyPinnedMemory::kChunkBytes - 1) / LazyPinnedMemory::kChunkBytes;
}

}  // namespace

LazyPinnedMemory::LazyPinnedMemory(size_t bytes)
    : memory_(whole_chunks(bytes) * kChunkBytes), pinned_(whole_chunks(bytes), false) {
  check_invariant(kChunkBytes % static_cast<size_t>(sysconf(_SC_PAGESIZE)) == 0,
                  "LazyPinnedMemory: chunks must be whole pages");
}

LazyPinnedMemory::~LazyPinnedMemory() {
  // Unregistered before LazyHostMemory's destructor unmaps the pages. A failure can only
  // mean the context is already gone.
  for (const Range& r : ranges_) cudaHostUnregister(r.base);
}

void LazyPinnedMemory::swap(LazyPinnedMemory& other) noexcept {
  memory_.swap(other.memory_);
  pinned_.swap(other.pinned_);
  ranges_.swap(other.ranges_);
  std::swap(pinned_bytes_, other.pinned_bytes_);
}

void LazyPinnedMemory::pin(size_t offset, size_t bytes) {
  check_invariant(offset <= size_bytes() && bytes <= size_bytes() - offset,
                  "LazyPinnedMemory: pin past the region");
  if (bytes == 0) return;
  const size_t first = offset / kChunkBytes;
  const size_t last = (offset + bytes - 1) / kChunkBytes;  // inclusive
  size_t chunk = first;
  while (chunk <= last) {
    if (pinned_[chunk]) {
      ++chunk;
      continue;
    }
    size_t end = chunk;  // a run [chunk, end) of chunks to pin
    while (end <= last && !pinned_[end]) ++end;
    const size_t run_bytes = (end - chunk) * kChunkBytes;
    void* base = static_cast<char*>(data()) + chunk * kChunkBytes;
    check_cuda(cudaHostRegister(base, run_bytes, cudaHostRegisterDefault),
               "host swap pool: cudaHostRegister of " + std::to_string(run_bytes) + " bytes");
    ranges_.push_back(Range{base, run_bytes});
    std::fill(pinned_.begin() + static_cast<std::ptrdiff_t>(chunk),
              pinned_.begin() + static_cast<std::ptrdiff_t>(end), true);
    pinned_bytes_ += run_bytes;
    chunk = end;
  }
}

}  // namespace kvlab::cuda
