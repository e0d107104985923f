// Launchers of the attention kernels (decode_attention.cu, prefill_attention.cu): raw
// arguments in, a cudaError_t out (the launch's status; execution errors surface at the next
// synchronization). Callers are the checked wrappers in attention.h, which validate shapes
// and pick the variant; use those.
//
// Both kernels read the KV cache through DeviceSeqView / DeviceKvArena, so one kernel serves
// paged and contiguous layouts (the layout branch is uniform across a warp); and through
// DeviceScaledKvArena, the same kernels dequantize an fp8_e4m3 or int8 cache as they load it. Softmax is
// computed online (running max and sum, FlashAttention / FlashDecoding style) in fp32.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/cuda/device_kv_view.h"

namespace kvlab::cuda {

// Head dims up to this run on the generic path; 64 and 128 also have specialized ones.
constexpr int32_t kMaxHeadDim = 256;

// Kv, the arena's kind: DeviceKvArena<const T> (K/V stored as T) or
// DeviceScaledKvArena<Fp8E4m3Code / Int8Code> (quantized; each vector times its scale).
template <typename T, typename Kv = DeviceKvArena<const T>>
struct DecodeArgs {
  const T* q = nullptr;  // row i: sequence i's query, num_heads * head_dim wide
  int64_t q_stride = 0;  // elements between rows
  T* out = nullptr;
  int64_t out_stride = 0;
  DeviceSeqView seqs;
  Kv arena;
  int32_t num_heads = 0;
  int32_t head_dim = 0;
  float scale = 1.0f;            // 1 / sqrt(head_dim)
  int32_t partition_tokens = 0;  // tokens per partition (one pass: >= the longest context)
  int32_t num_partitions = 1;    // partitions of the longest context; > 1: split-K
  // Split-K workspace, each [num_seqs][num_heads][num_partitions] (acc: x head_dim).
  float* partial_acc = nullptr;
  float* partial_max = nullptr;
  float* partial_sum = nullptr;
  // True when q, the arena and their strides allow the 64 / 128 specializations' vector loads
  // (head_dim / 32 elements per lane at once).
  bool vectorized = false;
};

// Bytes of dynamic shared memory the split-K reduction kernel needs: one float per partition
// and one for the total. Launches without opt-in allow 48 KiB.
constexpr int64_t decode_reduce_shared_bytes(int32_t num_partitions) {
  return (int64_t{num_partitions} + 1) * static_cast<int64_t>(sizeof(float));
}
constexpr int64_t kDefaultSharedBytes = 48 * 1024;

// One query token per sequence (its last), causal by construction: it sees its whole context.
// Grid: (num_heads, num_seqs, num_partitions), then a reduction kernel when split.
template <typename T, typename Kv>
cudaError_t launch_decode_attention(const DecodeArgs<T, Kv>& args, cudaStream_t stream);

template <typename T, typename Kv = DeviceKvArena<const T>>
struct PrefillArgs {
  const T* q = nullptr;  // rows [query_indptr[i], query_indptr[i + 1]): sequence i's chunk
  int64_t q_stride = 0;
  T* out = nullptr;
  int64_t out_stride = 0;
  const int32_t* query_indptr = nullptr;  // device, [num_seqs + 1]
  DeviceSeqView seqs;
  Kv arena;
  int32_t num_heads = 0;
  int32_t head_dim = 0;
  float scale = 1.0f;
  int32_t max_q_len = 0;  // the longest chunk (sizes the grid)
};

// Bytes of dynamic shared memory the prefill kernel needs for `head_dim`.
int64_t prefill_shared_bytes(int32_t head_dim);

// A chunk of query tokens per sequence at positions [context - q_len, context); the query at
// position p sees keys 0..p. Grid: (query tiles of 16 rows, num_heads, num_seqs).
template <typename T, typename Kv>
cudaError_t launch_prefill_attention(const PrefillArgs<T, Kv>& args, cudaStream_t stream);

}  // namespace kvlab::cuda
