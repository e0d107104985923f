// LazyHostMemory: a block of zero-filled host memory that costs nothing until used. The
// bytes are reserved as an anonymous private mapping without swap reservation
// (mmap MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE): the kernel commits a page and zero-fills
// it the first time it is written, so a large region of which a run touches little (the KV
// arena and host swap pool of a back end, sized by memory.capacity_slots and
// memory.swap_space_gb) takes start-up time and resident memory only for what is touched.
// Reading a page never written reads zeros (the kernel's shared zero page, nothing committed).
// The destructor unmaps the region: its memory goes back to the system at once.
//
// Move-only. Thread safety: none (a buffer); distinct pages may be written from several
// threads, as with any memory.
#pragma once

#include <cstddef>
#include <cstdint>

namespace kvlab {

class LazyHostMemory {
 public:
  LazyHostMemory() = default;
  // Reserves `bytes` (0: no mapping, data() is null). Throws std::bad_alloc when the address
  // space cannot be reserved (e.g. vm.overcommit_memory = 2 with too little commit limit).
  explicit LazyHostMemory(size_t bytes);
  ~LazyHostMemory();
  LazyHostMemory(LazyHostMemory&& other) noexcept { swap(other); }
  LazyHostMemory& operator=(LazyHostMemory&& other) noexcept {
    LazyHostMemory(static_cast<LazyHostMemory&&>(other)).swap(*this);
    return *this;
  }
  LazyHostMemory(const LazyHostMemory&) = delete;
  LazyHostMemory& operator=(const LazyHostMemory&) = delete;

  void* data() const { return ptr_; }
  template <typename T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }
  size_t size_bytes() const { return bytes_; }

  // Bytes of the region's pages mapped now (mincore, whole pages): an upper bound of what it
  // has cost so far (a page only read is counted too, though it maps the shared zero page).
  size_t resident_bytes() const;

  void swap(LazyHostMemory& other) noexcept;

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

}  // namespace kvlab
