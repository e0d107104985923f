// The KV-cache view as device kernels read it: plain mirrors of KvArenaView<T> and KvSeqView
// (kernels/kv_cache_view.h), field for field, with the same slot arithmetic; and the arena of
// a quantized layer (codes and scales), which has no CPU view twin of its own.
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
  static constexpr bool kScaled = false;
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

// One layer of a quantized cache (memory.kv_dtype fp8_e4m3 or int8; kernels/kv_quant_math.h):
// 1-byte codes [num_slots][num_kv_heads][head_dim], packed, and one fp32 scale per
// [slot][kv_head], of K and of V: the CPU cache's layout (kernels/cpu/kv_quant.h,
// KvLayerStore). `Code` is the codes' type, Fp8E4m3Code or Int8Code (how a kernel decodes a
// byte); kScaled tells kernels templated over either arena kind to apply the scales.
struct Fp8E4m3Code {
  uint8_t bits;
};
struct Int8Code {
  int8_t value;
};

template <typename Code>
struct DeviceScaledKvArena {
  static constexpr bool kScaled = true;
  Code* k = nullptr;
  Code* v = nullptr;
  float* k_scale = nullptr;
  float* v_scale = nullptr;
  int64_t num_slots = 0;
  int32_t num_kv_heads = 0;
  int32_t head_dim = 0;

  KVLAB_CUDA_HD int64_t vector_index(int64_t slot, int32_t head) const {
    return slot * num_kv_heads + head;
  }
  KVLAB_CUDA_HD Code* k_at(int64_t slot, int32_t head) const {
    return k + vector_index(slot, head) * head_dim;
  }
  KVLAB_CUDA_HD Code* v_at(int64_t slot, int32_t head) const {
    return v + vector_index(slot, head) * head_dim;
  }
  KVLAB_CUDA_HD float* k_scale_at(int64_t slot, int32_t head) const {
    return k_scale + vector_index(slot, head);
  }
  KVLAB_CUDA_HD float* v_scale_at(int64_t slot, int32_t head) const {
    return v_scale + vector_index(slot, head);
  }
};

// A quantized layer as host code holds it (CudaKvCache::scaled_layer): the codes as bytes and
// which format they hold. with_code() hands a kernel launcher the typed arena.
enum class ScaledKvFormat : int32_t { kFp8E4m3, kInt8 };
struct ScaledKvLayer {
  ScaledKvFormat format = ScaledKvFormat::kInt8;
  DeviceScaledKvArena<uint8_t> bytes;

  // Calls fn(DeviceScaledKvArena<Fp8E4m3Code or Int8Code>) over the same memory.
  template <typename Fn>
  decltype(auto) with_code(Fn&& fn) const {
    if (format == ScaledKvFormat::kFp8E4m3) return fn(typed<Fp8E4m3Code>());
    return fn(typed<Int8Code>());
  }
  template <typename Code>
  DeviceScaledKvArena<Code> typed() const {
    static_assert(sizeof(Code) == 1, "a code is one byte");
    return DeviceScaledKvArena<Code>{reinterpret_cast<Code*>(bytes.k),
                                     reinterpret_cast<Code*>(bytes.v),
                                     bytes.k_scale,
                                     bytes.v_scale,
                                     bytes.num_slots,
                                     bytes.num_kv_heads,
                                     bytes.head_dim};
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
