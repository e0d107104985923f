#include "kernels/cuda/cache_ops.h"

#include <algorithm>
#include <string>
#include <type_traits>

#include "core/errors.h"
#include "kernels/cuda/cache_kernels.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_kv_tables.h"

namespace kvlab::cuda {

namespace {

// Copies shorter than this many memcpy calls (copies x layers x 2 x planes) go through
// cudaMemcpyAsync; longer lists through one kernel.
constexpr int64_t kMaxMemcpyCalls = 64;

std::string describe(const KvCopy& c) {
  return "copy of " + std::to_string(c.num_slots) + " slots from " + std::to_string(c.src_slot) +
         " to " + std::to_string(c.dst_slot);
}

void check_copies(const CudaKvCache& src, const CudaKvCache& dst, std::span<const KvCopy> copies,
                  const char* who) {
  check_invariant(src.num_layers() == dst.num_layers() &&
                      src.num_kv_heads() == dst.num_kv_heads() &&
                      src.head_dim() == dst.head_dim() && src.dtype() == dst.dtype() &&
                      src.storage() == dst.storage(),
                  std::string(who) + ": caches of different shapes or dtypes");
  const bool same_cache = &src == &dst;
  for (const KvCopy& c : copies) {
    check_invariant(c.num_slots >= 0 && c.src_slot >= 0 && c.dst_slot >= 0 &&
                        c.src_slot + c.num_slots <= src.num_slots() &&
                        c.dst_slot + c.num_slots <= dst.num_slots(),
                    std::string(who) + ": " + describe(c) + " leaves the arenas (" +
                        std::to_string(src.num_slots()) + " and " +
                        std::to_string(dst.num_slots()) + " slots)");
    check_invariant(!same_cache || c.num_slots == 0 || c.src_slot + c.num_slots <= c.dst_slot ||
                        c.dst_slot + c.num_slots <= c.src_slot,
                    std::string(who) + ": " + describe(c) + " overlaps itself");
  }
}

// One cudaMemcpyAsync per copy, plane, layer and tensor, in list order.
void memcpy_copies(const CudaKvCache& src, CudaKvCache& dst, std::span<const KvCopy> copies,
                   cudaMemcpyKind kind, cudaStream_t stream, const char* who) {
  const std::vector<CudaKvCache::Plane> from = src.planes();
  const std::vector<CudaKvCache::Plane> to = dst.planes();
  for (const KvCopy& c : copies) {
    if (c.num_slots == 0) continue;
    for (size_t p = 0; p < from.size(); ++p) {
      const int64_t slot = from[p].slot_bytes;
      for (int32_t layer = 0; layer < src.num_layers(); ++layer) {
        const int64_t src_offset = layer * from[p].layer_bytes + c.src_slot * slot;
        const int64_t dst_offset = layer * to[p].layer_bytes + c.dst_slot * slot;
        const auto bytes = static_cast<size_t>(c.num_slots * slot);
        check_cuda(cudaMemcpyAsync(static_cast<char*>(to[p].k_base) + dst_offset,
                                   static_cast<const char*>(from[p].k_base) + src_offset, bytes,
                                   kind, stream),
                   std::string(who) + ": cudaMemcpyAsync (K, " + describe(c) + ")");
        check_cuda(cudaMemcpyAsync(static_cast<char*>(to[p].v_base) + dst_offset,
                                   static_cast<const char*>(from[p].v_base) + src_offset, bytes,
                                   kind, stream),
                   std::string(who) + ": cudaMemcpyAsync (V, " + describe(c) + ")");
      }
    }
  }
}

}  // namespace

template <typename T>
void write_kv(const T* k, int64_t k_stride, const T* v, int64_t v_stride,
              const int64_t* slot_mapping, int64_t num_rows, const KvArenaView<T>& arena,
              cudaStream_t stream) {
  const int64_t width = int64_t{arena.num_kv_heads} * arena.head_dim;
  check_invariant(num_rows >= 0 && k_stride >= width && v_stride >= width,
                  "write_kv: shape mismatch");
  WriteKvArgs<T> a;
  a.k = k;
  a.v = v;
  a.k_stride = k_stride;
  a.v_stride = v_stride;
  a.slot_mapping = slot_mapping;
  a.num_rows = num_rows;
  a.arena = to_device(arena);
  check_cuda(launch_write_kv(a, stream), "write_kv");
}

template <typename T>
void write_kv(const T* k, int64_t k_stride, const T* v, int64_t v_stride,
              const int64_t* slot_mapping, int64_t num_rows, const ScaledKvLayer& layer,
              cudaStream_t stream) {
  const int64_t width = int64_t{layer.bytes.num_kv_heads} * layer.bytes.head_dim;
  check_invariant(num_rows >= 0 && k_stride >= width && v_stride >= width,
                  "write_kv: shape mismatch");
  const cudaError_t status = layer.with_code([&](auto arena) {
    WriteScaledKvArgs<T, typename std::remove_pointer_t<decltype(arena.k)>> a;
    a.k = k;
    a.v = v;
    a.k_stride = k_stride;
    a.v_stride = v_stride;
    a.slot_mapping = slot_mapping;
    a.num_rows = num_rows;
    a.arena = arena;
    return launch_write_scaled_kv(a, stream);
  });
  check_cuda(status, layer.format == ScaledKvFormat::kFp8E4m3 ? "write_kv (fp8_e4m3)"
                                                              : "write_kv (int8)");
}

#define KVLAB_INSTANTIATE_WRITE_KV(T)                                                           \
  template void write_kv<T>(const T*, int64_t, const T*, int64_t, const int64_t*, int64_t,      \
                            const KvArenaView<T>&, cudaStream_t);                               \
  template void write_kv<T>(const T*, int64_t, const T*, int64_t, const int64_t*, int64_t,      \
                            const ScaledKvLayer&, cudaStream_t);
KVLAB_INSTANTIATE_WRITE_KV(float)
KVLAB_INSTANTIATE_WRITE_KV(__half)
KVLAB_INSTANTIATE_WRITE_KV(__nv_bfloat16)

void check_slot_mapping(std::span<const int64_t> slot_mapping, int64_t num_slots) {
  for (int64_t slot : slot_mapping) {
    check_invariant(slot < num_slots, "write_kv: slot " + std::to_string(slot) +
                                          " past the arena's " + std::to_string(num_slots));
  }
}

bool copies_independent(std::span<const KvCopy> copies) {
  struct Range {
    int64_t begin, end;
  };
  std::vector<Range> dst;
  for (const KvCopy& c : copies) {
    if (c.num_slots > 0) dst.push_back({c.dst_slot, c.dst_slot + c.num_slots});
  }
  std::sort(dst.begin(), dst.end(),
            [](const Range& a, const Range& b) { return a.begin < b.begin; });
  for (size_t i = 1; i < dst.size(); ++i) {
    if (dst[i].begin < dst[i - 1].end) return false;
  }
  // Destinations are now disjoint and sorted: a source overlaps one iff the first destination
  // ending after the source's start begins before the source's end.
  for (const KvCopy& c : copies) {
    if (c.num_slots == 0) continue;
    const auto it = std::upper_bound(dst.begin(), dst.end(), c.src_slot,
                                     [](int64_t slot, const Range& r) { return slot < r.end; });
    if (it != dst.end() && it->begin < c.src_slot + c.num_slots) return false;
  }
  return true;
}

std::vector<KvCopy> merge_adjacent(std::span<const KvCopy> copies, bool same_cache) {
  std::vector<KvCopy> out;
  for (const KvCopy& c : copies) {
    if (c.num_slots == 0) continue;
    const bool continues = !out.empty() &&
                           out.back().src_slot + out.back().num_slots == c.src_slot &&
                           out.back().dst_slot + out.back().num_slots == c.dst_slot;
    const int64_t joined = continues ? out.back().num_slots + c.num_slots : 0;
    const bool overlaps = same_cache && continues &&
                          out.back().src_slot < out.back().dst_slot + joined &&
                          out.back().dst_slot < out.back().src_slot + joined;
    if (continues && !overlaps) {
      out.back().num_slots = joined;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

void copy_kv_within(CudaKvCache& cache, std::span<const KvCopy> copies, StagedUpload& lists,
                    cudaStream_t stream) {
  check_invariant(cache.memory() == CudaKvCache::Memory::kDevice,
                  "copy_kv_within: the cache is not in device memory");
  check_copies(cache, cache, copies, "copy_kv_within");
  const std::vector<KvCopy> merged = merge_adjacent(copies, /*same_cache=*/true);
  if (merged.empty() || cache.num_layers() == 0) return;
  const int64_t calls = static_cast<int64_t>(merged.size()) * cache.num_layers() * 2 *
                        static_cast<int64_t>(cache.planes().size());
  if (calls <= kMaxMemcpyCalls || !copies_independent(merged)) {
    // Stream order gives the list order: a copy reading what an earlier one wrote sees it.
    memcpy_copies(cache, cache, merged, cudaMemcpyDeviceToDevice, stream, "copy_kv_within");
    return;
  }
  std::vector<SlotCopy> list;
  list.reserve(merged.size());
  int64_t longest = 0;
  for (const KvCopy& c : merged) {
    list.push_back(SlotCopy{c.src_slot, c.dst_slot, c.num_slots});
    longest = std::max(longest, c.num_slots);
  }
  // Through pinned staging: an asynchronous DMA on `stream` (a cudaMemcpyAsync from the
  // pageable vector could synchronize the stream first and would stall the host).
  lists.clear();
  const size_t list_at = lists.add(list);
  lists.upload(stream);
  for (const CudaKvCache::Plane& plane : cache.planes()) {
    CopySlotsArgs a;
    a.k_base = plane.k_base;
    a.v_base = plane.v_base;
    a.layer_bytes = plane.layer_bytes;
    a.slot_bytes = plane.slot_bytes;
    a.num_layers = cache.num_layers();
    a.copies = lists.device<const SlotCopy>(list_at);
    a.num_copies = static_cast<int32_t>(list.size());
    a.max_copy_slots = longest;
    check_cuda(launch_copy_slots(a, stream),
               "copy_kv_within (" + std::to_string(list.size()) + " copies, kernel)");
  }
}

void swap_out(const CudaKvCache& device, CudaKvCache& host, std::span<const KvCopy> copies,
              cudaStream_t stream) {
  check_invariant(device.memory() == CudaKvCache::Memory::kDevice &&
                      host.memory() == CudaKvCache::Memory::kPinnedHost,
                  "swap_out: needs a device cache and a pinned host pool");
  check_copies(device, host, copies, "swap_out");
  const std::vector<KvCopy> merged = merge_adjacent(copies, false);
  // The pool is pinned as it is first written (kv_cache.h), before the copies are enqueued.
  for (const KvCopy& c : merged) host.pin_slots(c.dst_slot, c.num_slots);
  memcpy_copies(device, host, merged, cudaMemcpyDeviceToHost, stream, "swap_out");
}

void swap_in(const CudaKvCache& host, CudaKvCache& device, std::span<const KvCopy> copies,
             cudaStream_t stream) {
  check_invariant(device.memory() == CudaKvCache::Memory::kDevice &&
                      host.memory() == CudaKvCache::Memory::kPinnedHost,
                  "swap_in: needs a pinned host pool and a device cache");
  check_copies(host, device, copies, "swap_in");
  memcpy_copies(host, device, merge_adjacent(copies, false), cudaMemcpyHostToDevice, stream,
                "swap_in");
}

}  // namespace kvlab::cuda
