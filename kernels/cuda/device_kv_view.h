// The KV-cache view as device kernels read it: plain mirrors of KvArenaView<T> and KvSeqView
// (kernels/kv_cache_view.h), field for field, with the same slot arithmetic.
//
// Why a mirror and not kv_cache_view.h itself: that header brings in core/kv_cache_manager.h
// (and with it <functional>, <map>, the registry), and nvcc's front ends paid ~8 s per .cu
// file on a 2-core machine to parse them. Kernels need six integers and four pointers. The
// conversion from the real views (device_kv_tables.h) static_asserts that the two agree in
// field order and types, and tests/gpu checks slot_of against KvSeqView::slot_of.
#pragma once

#include <cstdint>

#include "core/host_device.h"

namespace kvlab::cuda {

// One layer's K and V arenas, [num_slots][num_kv_heads][head_dim] with strides in elements.
template <typename T>
struct DeviceKvArena {
  T* k = nullptr;
  T* v = nullptr;
  int64_t num_slots = 0;
  int32_t num_kv_heads = 0;
  int32_t head_dim = 0;
  int64_t slot_stride = 0;
  int64_t head_stride = 0;

  KVLAB_CUDA_HD T* k_at(int64_t slot, int32_t head) const {
    return k + slot * slot_stride + head * head_stride;
  }
  KVLAB_CUDA_HD T* v_at(int64_t slot, int32_t head) const {
    return v + slot * slot_stride + head * head_stride;
  }
};

// Where each sequence's tokens live (see KvSeqView): paged through block tables, or
// contiguous from a base slot. Every pointer is device memory.
struct DeviceSeqView {
  bool paged = true;
  int32_t num_seqs = 0;
  const int32_t* context_lens = nullptr;  // [num_seqs]
  int32_t block_size = 0;
  const int32_t* block_indptr = nullptr;   // [num_seqs + 1], paged
  const int32_t* block_indices = nullptr;  // paged
  const int64_t* base_slots = nullptr;     // [num_seqs], contiguous

  // REQUIRES: 0 <= seq < num_seqs, 0 <= token < context_lens[seq].
  KVLAB_CUDA_HD int64_t slot_of(int32_t seq, int64_t token) const {
    if (!paged) return base_slots[seq] + token;
    const int32_t block = block_indices[block_indptr[seq] + token / block_size];
    return static_cast<int64_t>(block) * block_size + token % block_size;
  }
};

}  // namespace kvlab::cuda
