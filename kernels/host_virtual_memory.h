// Real virtual memory on the host, the CPU's counterpart of CUDA's VMM API (cuMemCreate,
// cuMemAddressReserve, cuMemMap, cuMemUnmap), out of Linux's mmap and memfd:
//
//  - MemfdPagePool: physical memory as one anonymous file (memfd_create) of num_pages pages of
//    page_bytes each. Like any shared memory it is committed page by page as it is written,
//    so a pool sized to a large KV budget costs only what a run touches.
//  - VirtualReservation: address space reserved with mmap(PROT_NONE, MAP_NORESERVE): no
//    memory, no access, only addresses. map() places pool pages at an offset of it with
//    mmap(MAP_FIXED | MAP_SHARED) of the memfd at the page's file offset (replacing what was
//    there); unmap() puts reserved, inaccessible address space back with mmap(PROT_NONE,
//    MAP_FIXED), so the range stays reserved and nothing else can be placed in it. The same
//    pool page mapped into two reservations (or twice in one) is the same memory: bytes
//    written through one mapping are read through the other, and a page unmapped from one
//    reservation and mapped into another keeps its bytes, as a physical page would.
//
// Every mmap call a reservation makes is counted, with its measured time (VmmCallCounters):
// what the cpu back end reports per step (StepRecord::vmm_calls, vmm_s).
//
// Offsets and sizes must be multiples of os_page_size() (4 KiB on x86-64 Linux): the kernel
// maps whole pages. Linux only (memfd_create: Linux 3.17, glibc 2.27); elsewhere, or where the
// kernel refuses memfd_create, MemfdPagePool's constructor throws std::system_error saying so.
//
// Move-only; the destructors unmap and close. Thread safety: none.
#pragma once

#include <cstddef>
#include <cstdint>

namespace kvlab {

// The operating system's page size (sysconf(_SC_PAGESIZE)).
size_t os_page_size();

// Real mapping calls made so far and their wall time (steady clock around each call). Also the
// cuda back end's (kernels/cuda/device_virtual_memory.h: cuMemAddressReserve, cuMemMap,
// cuMemSetAccess, cuMemUnmap calls).
struct VmmCallCounters {
  int64_t calls = 0;           // mmap calls: map() and unmap() make one each
  double seconds = 0;
  int64_t pages_mapped = 0;    // pool pages map() placed
  int64_t pages_unmapped = 0;  // pool-page-sized spans unmap() gave back
};

class MemfdPagePool {
 public:
  // REQUIRES (checked, std::invalid_argument): page_bytes a positive multiple of os_page_size().
  // Throws std::system_error naming memfd_create (or ftruncate) when the kernel refuses.
  MemfdPagePool(size_t page_bytes, size_t num_pages);
  ~MemfdPagePool();
  MemfdPagePool(MemfdPagePool&& other) noexcept { swap(other); }
  MemfdPagePool& operator=(MemfdPagePool&& other) noexcept {
    MemfdPagePool(static_cast<MemfdPagePool&&>(other)).swap(*this);
    return *this;
  }
  MemfdPagePool(const MemfdPagePool&) = delete;
  MemfdPagePool& operator=(const MemfdPagePool&) = delete;

  int fd() const { return fd_; }
  size_t page_bytes() const { return page_bytes_; }
  size_t num_pages() const { return num_pages_; }
  size_t size_bytes() const { return page_bytes_ * num_pages_; }

  void swap(MemfdPagePool& other) noexcept;

 private:
  int fd_ = -1;
  size_t page_bytes_ = 0;
  size_t num_pages_ = 0;
};

class VirtualReservation {
 public:
  VirtualReservation() = default;
  // Reserves `bytes` (rounded up to whole OS pages) of address space, inaccessible (one mmap,
  // counted). Throws std::system_error when the address space cannot be reserved.
  explicit VirtualReservation(size_t bytes);
  ~VirtualReservation();
  VirtualReservation(VirtualReservation&& other) noexcept { swap(other); }
  VirtualReservation& operator=(VirtualReservation&& other) noexcept {
    VirtualReservation(static_cast<VirtualReservation&&>(other)).swap(*this);
    return *this;
  }
  VirtualReservation(const VirtualReservation&) = delete;
  VirtualReservation& operator=(const VirtualReservation&) = delete;

  std::byte* data() const { return data_; }
  size_t size_bytes() const { return bytes_; }

  // Maps pool pages [first_page, first_page + count) at [offset, offset + count x page_bytes)
  // of this reservation, readable and writable, shared with every other mapping of them.
  // REQUIRES (checked, std::invalid_argument): offset a multiple of os_page_size(); the span
  // inside the reservation; the pages inside the pool. Throws std::system_error if mmap fails.
  void map(size_t offset, const MemfdPagePool& pool, size_t first_page, size_t count = 1);
  // Makes [offset, offset + bytes) reserved and inaccessible again (whatever was mapped there
  // is unmapped; the pool keeps its bytes). REQUIRES and throws as map(); `page_bytes` (the
  // pool's page size) only counts pages_unmapped.
  void unmap(size_t offset, size_t bytes, size_t page_bytes);

  const VmmCallCounters& counters() const { return counters_; }

  void swap(VirtualReservation& other) noexcept;

 private:
  void check_span(size_t offset, size_t bytes, const char* what) const;

  std::byte* data_ = nullptr;
  size_t bytes_ = 0;
  VmmCallCounters counters_;
};

}  // namespace kvlab
