#include "kernels/host_virtual_memory.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

namespace kvlab {

namespace {

[[noreturn]] void fail_errno(const std::string& what) {
  throw std::system_error(errno, std::generic_category(), what);
}

// Runs one mmap call, counting it and its time.
template <typename Fn>
void* timed_mmap(VmmCallCounters& counters, Fn&& call) {
  const auto start = std::chrono::steady_clock::now();
  void* p = call();
  counters.seconds +=
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ++counters.calls;
  return p;
}

}  // namespace

size_t os_page_size() {
  static const size_t size = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  return size;
}

MemfdPagePool::MemfdPagePool(size_t page_bytes, size_t num_pages) {
  if (page_bytes == 0 || page_bytes % os_page_size() != 0) {
    throw std::invalid_argument("MemfdPagePool: page size " + std::to_string(page_bytes) +
                                " bytes is not a positive multiple of the OS page size (" +
                                std::to_string(os_page_size()) + " bytes)");
  }
#if defined(__linux__)
  const int fd = memfd_create("kvlab-kv-pages", MFD_CLOEXEC);
  if (fd < 0) {
    fail_errno("memfd_create (the cpu back end's virtual memory needs Linux 3.17 or later)");
  }
  if (ftruncate(fd, static_cast<off_t>(page_bytes * num_pages)) != 0) {
    const int err = errno;
    close(fd);
    errno = err;
    fail_errno("ftruncate of the memfd page pool to " + std::to_string(page_bytes * num_pages) +
               " bytes");
  }
  fd_ = fd;
  page_bytes_ = page_bytes;
  num_pages_ = num_pages;
#else
  (void)num_pages;
  throw std::system_error(std::make_error_code(std::errc::function_not_supported),
                          "memfd_create: the cpu back end's virtual memory needs Linux");
#endif
}

MemfdPagePool::~MemfdPagePool() {
  if (fd_ >= 0) close(fd_);
}

void MemfdPagePool::swap(MemfdPagePool& other) noexcept {
  std::swap(fd_, other.fd_);
  std::swap(page_bytes_, other.page_bytes_);
  std::swap(num_pages_, other.num_pages_);
}

VirtualReservation::VirtualReservation(size_t bytes) {
  if (bytes == 0) return;
  const size_t page = os_page_size();
  bytes = (bytes + page - 1) / page * page;
  void* p = timed_mmap(counters_, [&] {
    return mmap(nullptr, bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  });
  if (p == MAP_FAILED) {
    fail_errno("mmap(PROT_NONE) reserving " + std::to_string(bytes) + " bytes of address space");
  }
  data_ = static_cast<std::byte*>(p);
  bytes_ = bytes;
}

VirtualReservation::~VirtualReservation() {
  if (data_ != nullptr) munmap(data_, bytes_);
}

void VirtualReservation::swap(VirtualReservation& other) noexcept {
  std::swap(data_, other.data_);
  std::swap(bytes_, other.bytes_);
  std::swap(counters_, other.counters_);
}

void VirtualReservation::check_span(size_t offset, size_t bytes, const char* what) const {
  if (offset % os_page_size() != 0 || bytes % os_page_size() != 0 || offset > bytes_ ||
      bytes > bytes_ - offset) {
    throw std::invalid_argument(std::string("VirtualReservation::") + what + ": bytes [" +
                                std::to_string(offset) + ", " + std::to_string(offset + bytes) +
                                ") are not whole OS pages inside the " + std::to_string(bytes_) +
                                "-byte reservation");
  }
}

void VirtualReservation::map(size_t offset, const MemfdPagePool& pool, size_t first_page,
                             size_t count) {
  const size_t bytes = count * pool.page_bytes();
  check_span(offset, bytes, "map");
  if (first_page > pool.num_pages() || count > pool.num_pages() - first_page) {
    throw std::invalid_argument("VirtualReservation::map: pool pages [" +
                                std::to_string(first_page) + ", " +
                                std::to_string(first_page + count) + ") past the pool's " +
                                std::to_string(pool.num_pages()));
  }
  void* p = timed_mmap(counters_, [&] {
    return mmap(data_ + offset, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, pool.fd(),
                static_cast<off_t>(first_page * pool.page_bytes()));
  });
  if (p == MAP_FAILED) fail_errno("mmap(MAP_FIXED | MAP_SHARED) of memfd pages");
  counters_.pages_mapped += static_cast<int64_t>(count);
}

void VirtualReservation::unmap(size_t offset, size_t bytes, size_t page_bytes) {
  check_span(offset, bytes, "unmap");
  void* p = timed_mmap(counters_, [&] {
    return mmap(data_ + offset, bytes, PROT_NONE,
                MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
  });
  if (p == MAP_FAILED) fail_errno("mmap(PROT_NONE, MAP_FIXED) unmapping pages");
  if (page_bytes > 0) counters_.pages_unmapped += static_cast<int64_t>(bytes / page_bytes);
}

}  // namespace kvlab
