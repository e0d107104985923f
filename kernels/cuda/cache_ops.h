// Writing new tokens' K/V into the cache and moving slots between caches on the GPU: the CUDA
// twins of kernels/cpu/cache_write.h and kernels/cpu/kv_copy.h, with the same contracts.
//
//  - write_kv: rows of K and V to their slots (slot mapping; negative slots skipped), as they
//    are or quantized (fp8_e4m3, int8: codes and scales).
//  - copy_kv_within: device-to-device copies inside the arena (fork copies, copy-on-write),
//    every layer, K and V, with the CPU op's sequential semantics: a list whose copies are
//    independent (no copy reads or writes slots another one writes) and long runs as one
//    kernel over all of them; otherwise, or when short, as cudaMemcpyAsync calls in list
//    order.
//  - swap_out / swap_in: device arena <-> pinned host pool, one cudaMemcpyAsync per run of
//    adjacent copies, layer and tensor; swap_out pins the pool's destination slots first
//    where they are not yet (CudaKvCache::pin_slots).
//
// Copies and swaps move every plane of the cache (CudaKvCache::planes): a quantized cache's
// scales go with their slots. Everything is enqueued on `stream`. Bad ranges throw InvariantError before anything is
// enqueued; failed CUDA calls throw CudaError.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <span>
#include <vector>

#include "core/kv_cache_manager.h"
#include "kernels/cuda/device_buffer.h"
#include "kernels/cuda/kv_cache.h"
#include "kernels/cuda/staged_upload.h"
#include "kernels/kv_cache_view.h"

namespace kvlab::cuda {

// Row r of k and v ([num_rows][num_kv_heads * head_dim], rows *_stride elements apart) goes
// to slot slot_mapping[r] (a device array) of `arena`.
// REQUIRES: every slot_mapping entry < arena.num_slots (the caller checks its host copy:
// check_slot_mapping).
template <typename T>
void write_kv(const T* k, int64_t k_stride, const T* v, int64_t v_stride,
              const int64_t* slot_mapping, int64_t num_rows, const KvArenaView<T>& arena,
              cudaStream_t stream);

// The same into a quantized layer (CudaKvCache::scaled_layer): each (row, KV head) vector
// quantized exactly as cpu::quantize_kv does (kernels/kv_quant_math.h), codes and scale.
template <typename T>
void write_kv(const T* k, int64_t k_stride, const T* v, int64_t v_stride,
              const int64_t* slot_mapping, int64_t num_rows, const ScaledKvLayer& layer,
              cudaStream_t stream);

// Throws InvariantError when a slot is >= num_slots.
void check_slot_mapping(std::span<const int64_t> slot_mapping, int64_t num_slots);

// `lists` stages the copy list (pinned memory, then the device) when the kernel path runs;
// its clear() waits for the previous list's upload, so one StagedUpload serves every call.
void copy_kv_within(CudaKvCache& cache, std::span<const KvCopy> copies, StagedUpload& lists,
                    cudaStream_t stream);
// REQUIRES (checked): `device` in device memory, `host` pinned host memory, equal shapes.
void swap_out(const CudaKvCache& device, CudaKvCache& host, std::span<const KvCopy> copies,
              cudaStream_t stream);
void swap_in(const CudaKvCache& host, CudaKvCache& device, std::span<const KvCopy> copies,
             cudaStream_t stream);

// Host-side helpers, exposed for tests.
// True when the copies may run in any order: no two destination ranges overlap and no source
// range overlaps another copy's destination.
bool copies_independent(std::span<const KvCopy> copies);
// Joins consecutive copies whose source and destination ranges both continue the previous
// one's (block-by-block swap lists of adjacent blocks become one range); drops empty copies.
// `same_cache`: source and destination are one arena, so a join must not make a copy overlap
// itself (that would change what the sequential list does).
std::vector<KvCopy> merge_adjacent(std::span<const KvCopy> copies, bool same_cache);

}  // namespace kvlab::cuda
