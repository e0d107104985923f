#include "kernels/cuda/vmm_kv_arena.h"

#include <stdexcept>

#include "kernels/cuda/cuda_check.h"

namespace kvlab::cuda {

namespace {

// Checks the arguments before anything is reserved; returns the real page size.
size_t checked_page_bytes(const VirtualGeometry& g, int32_t num_layers, int32_t num_kv_heads,
                          int32_t head_dim, DType dtype, int32_t device) {
  if (g.tokens_per_page <= 0 || g.num_pages <= 0 || g.pages_per_range <= 0 || g.ranges_total <= 0 ||
      num_layers <= 0 || num_kv_heads <= 0 || head_dim <= 0) {
    throw std::invalid_argument("CudaVmmKvArena: every size must be positive");
  }
  const std::string why = vmm_unsupported_reason(device);
  if (!why.empty()) throw CudaError("CudaVmmKvArena: " + why);
  const std::string refusal =
      CudaVmmKvArena::page_size_refusal(g, num_kv_heads, head_dim, dtype, vmm_granularity(device));
  if (!refusal.empty()) throw std::invalid_argument("CudaVmmKvArena: " + refusal);
  return static_cast<size_t>(CudaVmmKvArena::real_page_bytes(g, num_kv_heads, head_dim, dtype));
}

}  // namespace

int64_t CudaVmmKvArena::real_page_bytes(const VirtualGeometry& g, int32_t num_kv_heads,
                                        int32_t head_dim, DType dtype) {
  return static_cast<int64_t>(g.tokens_per_page) * num_kv_heads * head_dim * dtype_bytes(dtype);
}

std::string CudaVmmKvArena::page_size_refusal(const VirtualGeometry& g, int32_t num_kv_heads,
                                              int32_t head_dim, DType dtype, size_t granularity) {
  const int64_t real = real_page_bytes(g, num_kv_heads, head_dim, dtype);
  const auto grain = static_cast<int64_t>(granularity);
  if (grain > 0 && real > 0 && real % grain == 0) return "";
  return "a real page holds " + std::to_string(g.tokens_per_page) + " tokens (of the " +
         std::to_string(g.page_bytes) + "-byte page) x " +
         std::to_string(static_cast<int64_t>(num_kv_heads) * head_dim) + " " + dtype_name(dtype) +
         " elements = " + std::to_string(real) +
         " bytes, not a multiple of the device's virtual-memory allocation granularity (" +
         std::to_string(grain) +
         " bytes, cuMemGetAllocationGranularity): cuMemMap maps whole allocations of that "
         "granularity; pick a page size whose tokens fill whole granules (e.g. 2MiB when it "
         "holds a whole number of tokens)";
}

CudaVmmKvArena::CudaVmmKvArena(const VirtualGeometry& geometry, int32_t num_layers,
                               int32_t num_kv_heads, int32_t head_dim, DType dtype, int32_t device)
    : page_bytes_(checked_page_bytes(geometry, num_layers, num_kv_heads, head_dim, dtype, device)),
      pages_(geometry, num_layers),
      pool_(device, page_bytes_, static_cast<size_t>(pages_.pool_pages())),
      physical_(device, static_cast<size_t>(pages_.pool_pages()) * page_bytes_, page_bytes_),
      virtual_(device, static_cast<size_t>(pages_.reserved_pages()) * page_bytes_, page_bytes_),
      physical_cache_(CudaKvCache::borrowing(physical_.data(), num_layers, pages_.physical_slots(),
                                             num_kv_heads, head_dim, dtype)),
      virtual_cache_(CudaKvCache::borrowing(virtual_.data(), num_layers, pages_.virtual_slots(),
                                            num_kv_heads, head_dim, dtype)) {
  for (size_t page = 0; page < pool_.num_pages(); ++page) physical_.map(page, pool_, page);
  // Zeroed, as CudaKvCache zeroes its own memory; synchronous so no stream races it.
  check_cuda(cudaMemset(physical_.data(), 0, physical_.size_bytes()), "CudaVmmKvArena: cudaMemset");
  check_cuda(cudaDeviceSynchronize(), "CudaVmmKvArena: cudaMemset");
}

bool CudaVmmKvArena::is_mapped(int32_t tensor, int32_t layer, int64_t range, int64_t page) const {
  return virtual_.is_mapped(static_cast<size_t>(pages_.virtual_page(tensor, layer, range, page)));
}

void CudaVmmKvArena::map_group(int64_t range, int64_t page, int32_t group) {
  for (int32_t tensor = 0; tensor < 2; ++tensor) {
    for (int32_t layer = 0; layer < pages_.layers(); ++layer) {
      const auto at = static_cast<size_t>(pages_.virtual_page(tensor, layer, range, page));
      if (virtual_.is_mapped(at)) virtual_.unmap(at);  // cuMemMap cannot replace a mapping
      virtual_.map(at, pool_, static_cast<size_t>(pages_.pool_page(tensor, layer, group)));
    }
  }
}

void CudaVmmKvArena::unmap_page(int64_t range, int64_t page) {
  for (int32_t tensor = 0; tensor < 2; ++tensor) {
    for (int32_t layer = 0; layer < pages_.layers(); ++layer) {
      virtual_.unmap(static_cast<size_t>(pages_.virtual_page(tensor, layer, range, page)));
    }
  }
}

void CudaVmmKvArena::mirror(const KvCacheManager& kv) {
  pages_.mirror(
      kv, "CudaVmmKvArena",
      [this](int64_t range, int64_t page, int32_t group) { map_group(range, page, group); },
      [this](int64_t range, int64_t page) { unmap_page(range, page); });
}

}  // namespace kvlab::cuda
