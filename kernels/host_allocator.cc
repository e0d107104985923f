#include "kernels/host_allocator.h"

#include <mutex>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace kvlab {

void retain_freed_host_memory() {
  static std::once_flag once;
  std::call_once(once, [] {
#if defined(__GLIBC__)
    // Setting either fixes it (glibc's sliding thresholds stop): blocks below 32 MiB (the
    // most M_MMAP_THRESHOLD takes on 64-bit) from the heap, and never trim it.
    mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
  });
}

}  // namespace kvlab
