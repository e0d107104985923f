#include "kernels/lazy_host_memory.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <new>
#include <utility>
#include <vector>

namespace kvlab {

namespace {

size_t page_size() {
  static const size_t size = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return size;
}

}  // namespace

LazyHostMemory::LazyHostMemory(size_t bytes) {
  if (bytes == 0) return;
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  ptr_ = p;
  bytes_ = bytes;
}

LazyHostMemory::~LazyHostMemory() {
  if (ptr_ != nullptr) munmap(ptr_, bytes_);
}

void LazyHostMemory::swap(LazyHostMemory& other) noexcept {
  std::swap(ptr_, other.ptr_);
  std::swap(bytes_, other.bytes_);
}

size_t LazyHostMemory::resident_bytes() const {
  if (ptr_ == nullptr) return 0;
  const size_t page = page_size();
  const size_t pages = (bytes_ + page - 1) / page;
  // A bounded vector per call, so a region of hundreds of GiB needs no huge one.
  constexpr size_t kPagesPerCall = size_t{1} << 20;
  std::vector<unsigned char> resident(std::min(pages, kPagesPerCall));
  size_t count = 0;
  for (size_t first = 0; first < pages; first += kPagesPerCall) {
    const size_t n = std::min(kPagesPerCall, pages - first);
    char* at = static_cast<char*>(ptr_) + first * page;
    if (mincore(at, std::min(n * page, bytes_ - first * page), resident.data()) != 0) continue;
    count += static_cast<size_t>(std::count_if(resident.begin(),
                                               resident.begin() + static_cast<std::ptrdiff_t>(n),
                                               [](unsigned char r) { return (r & 1) != 0; }));
  }
  return count * page;
}

}  // namespace kvlab
