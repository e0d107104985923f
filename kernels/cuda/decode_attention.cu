// Decode attention over the KV cache (paged or contiguous), one query token per sequence.
//
// One thread block per (query head, sequence, partition), four warps. The warps split the
// partition's tokens in tiles of kTileTokens: a warp loads the K rows of its tile (each lane
// holding head_dim / 32 consecutive elements, one vector load for head_dim 64 / 128), reduces
// the dot products across the warp, and folds the tile into its running softmax (max m, sum l,
// weighted sum of V rows acc). The four warps' states are merged through shared memory; with
// one partition the block writes the normalized output, with several (split-K, for long
// contexts and small batches) it writes (m, l, acc) and a second kernel merges the partitions.
//
// A quantized cache (DeviceScaledKvArena) is read the same way: each lane loads its codes
// (4 bytes at once for head_dim 128) and multiplies them by the row's scale.
//
// GQA: query head h reads KV head h / (num_heads / num_kv_heads). Each query head of a group
// reads the same K/V rows (from L2 after the first); a group-per-block variant is a tuning
// step for later.
#include <cmath>

#include "kernels/cuda/attention_kernels.h"
#include "kernels/cuda/device_math.cuh"
#include "kernels/cuda/softmax_math.h"

namespace kvlab::cuda {

namespace {

using device::kWarpSize;
using device::load_floats;
using device::warp_sum;

constexpr int kThreads = 128;
constexpr int kWarps = kThreads / kWarpSize;
constexpr int kTileTokens = 4;  // K/V rows a warp loads before it reduces

// Which head_dim elements a lane holds: element (c * 32 + lane) * kVec + j for chunk c < kChunks
// and j < kVec. Specialized head dims: one chunk of head_dim / 32 consecutive elements (one
// vector load). Generic (kHeadDim == 0): kVec = 1, up to kMaxHeadDim / 32 chunks, guarded.
template <int kHeadDim>
struct LaneDims {
  static constexpr int kVec = kHeadDim > 0 ? kHeadDim / kWarpSize : 1;
  static constexpr int kChunks = kHeadDim > 0 ? 1 : kMaxHeadDim / kWarpSize;
};

// E: the stored element (T, or a quantized code whose values are then multiplied by `scale`,
// the vector's scale, when kScaled).
template <int kHeadDim, bool kScaled = false, typename E>
__device__ __forceinline__ void load_lane(
    const E* row, int head_dim, int lane,
    float (&x)[LaneDims<kHeadDim>::kChunks][LaneDims<kHeadDim>::kVec], float scale = 1.0f) {
  constexpr int kVec = LaneDims<kHeadDim>::kVec;
#pragma unroll
  for (int c = 0; c < LaneDims<kHeadDim>::kChunks; ++c) {
    const int d0 = (c * kWarpSize + lane) * kVec;
    if (kHeadDim > 0 || d0 < head_dim) {
      load_floats<E, kVec>(row + d0, x[c]);
      if constexpr (kScaled) {
#pragma unroll
        for (int j = 0; j < kVec; ++j) x[c][j] *= scale;
      }
    } else {
#pragma unroll
      for (int j = 0; j < kVec; ++j) x[c][j] = 0.0f;
    }
  }
}

// Row (slot, kv_head) of K (or V) into the lane's registers, dequantized for a scaled arena.
template <int kHeadDim, typename Kv>
__device__ __forceinline__ void load_kv_lane(
    const Kv& arena, bool k, int64_t slot, int kv_head, int head_dim, int lane,
    float (&x)[LaneDims<kHeadDim>::kChunks][LaneDims<kHeadDim>::kVec]) {
  const auto* row = k ? arena.k_at(slot, kv_head) : arena.v_at(slot, kv_head);
  if constexpr (Kv::kScaled) {
    const float s = *(k ? arena.k_scale_at(slot, kv_head) : arena.v_scale_at(slot, kv_head));
    load_lane<kHeadDim, true>(row, head_dim, lane, x, s);
  } else {
    load_lane<kHeadDim>(row, head_dim, lane, x);
  }
}

template <typename T, typename Kv, int kHeadDim>
__global__ void __launch_bounds__(kThreads) decode_attention_kernel(const DecodeArgs<T, Kv> a) {
  constexpr int kVec = LaneDims<kHeadDim>::kVec;
  constexpr int kChunks = LaneDims<kHeadDim>::kChunks;
  const int head = blockIdx.x;
  const int seq = blockIdx.y;
  const int part = blockIdx.z;
  const int context = a.seqs.context_lens[seq];
  const int begin = part * a.partition_tokens;
  if (begin >= context) return;  // this sequence is shorter than the longest
  const int end = min(context, begin + a.partition_tokens);
  const int head_dim = kHeadDim > 0 ? kHeadDim : a.head_dim;
  const int kv_head = head / (a.num_heads / a.arena.num_kv_heads);
  const int lane = threadIdx.x % kWarpSize;
  const int warp = threadIdx.x / kWarpSize;

  float q[kChunks][kVec];
  load_lane<kHeadDim>(a.q + seq * a.q_stride + static_cast<int64_t>(head) * head_dim, head_dim,
                      lane, q);

  float m = -INFINITY;  // running max of the scores seen by this warp
  float l = 0.0f;       // running sum of exp(score - m)
  float acc[kChunks][kVec];
#pragma unroll
  for (int c = 0; c < kChunks; ++c) {
#pragma unroll
    for (int j = 0; j < kVec; ++j) acc[c][j] = 0.0f;
  }

  for (int t0 = begin + warp * kTileTokens; t0 < end; t0 += kWarps * kTileTokens) {
    int64_t slot[kTileTokens];
#pragma unroll
    for (int i = 0; i < kTileTokens; ++i) {
      slot[i] = t0 + i < end ? a.seqs.slot_of(seq, t0 + i) : -1;
    }
    float rows[kTileTokens][kChunks][kVec];
#pragma unroll
    for (int i = 0; i < kTileTokens; ++i) {
      if (slot[i] >= 0) load_kv_lane<kHeadDim>(a.arena, true, slot[i], kv_head, head_dim, lane, rows[i]);
    }
    float score[kTileTokens];
    float tile_max = -INFINITY;
#pragma unroll
    for (int i = 0; i < kTileTokens; ++i) {
      float dot = 0.0f;
      if (slot[i] >= 0) {
#pragma unroll
        for (int c = 0; c < kChunks; ++c) {
#pragma unroll
          for (int j = 0; j < kVec; ++j) dot += q[c][j] * rows[i][c][j];
        }
      }
      dot = warp_sum(dot);
      score[i] = slot[i] >= 0 ? dot * a.scale : -INFINITY;
      tile_max = fmaxf(tile_max, score[i]);
    }
    // Token t0 is always valid, so tile_max and the new m are finite; the empty state
    // rescales by 0 to itself on the first tile.
    const float alpha = softmax_advance(m, l, tile_max);
#pragma unroll
    for (int c = 0; c < kChunks; ++c) {
#pragma unroll
      for (int j = 0; j < kVec; ++j) acc[c][j] *= alpha;
    }
#pragma unroll
    for (int i = 0; i < kTileTokens; ++i) {
      if (slot[i] >= 0) load_kv_lane<kHeadDim>(a.arena, false, slot[i], kv_head, head_dim, lane, rows[i]);
    }
#pragma unroll
    for (int i = 0; i < kTileTokens; ++i) {
      if (slot[i] < 0) continue;
      const float p = expf(score[i] - m);
      l += p;
#pragma unroll
      for (int c = 0; c < kChunks; ++c) {
#pragma unroll
        for (int j = 0; j < kVec; ++j) acc[c][j] += p * rows[i][c][j];
      }
    }
  }

  // Merge the warps: rescale each to the block's max.
  __shared__ float s_max[kWarps];
  __shared__ float s_sum[kWarps];
  __shared__ float s_acc[kWarps][kMaxHeadDim];
  if (lane == 0) {
    s_max[warp] = m;
    s_sum[warp] = l;
  }
#pragma unroll
  for (int c = 0; c < kChunks; ++c) {
#pragma unroll
    for (int j = 0; j < kVec; ++j) {
      const int d = (c * kWarpSize + lane) * kVec + j;
      if (kHeadDim > 0 || d < head_dim) s_acc[warp][d] = acc[c][j];
    }
  }
  __syncthreads();
  float block_max = -INFINITY;
#pragma unroll
  for (int w = 0; w < kWarps; ++w) block_max = fmaxf(block_max, s_max[w]);
  float weight[kWarps];
  float total = 0.0f;
#pragma unroll
  for (int w = 0; w < kWarps; ++w) {
    // A warp that saw no token (short partition) has m = -inf and contributes nothing.
    weight[w] = softmax_rescale(s_max[w], block_max);
    total += weight[w] * s_sum[w];
  }
  if (a.num_partitions == 1) {
    T* out = a.out + seq * a.out_stride + static_cast<int64_t>(head) * head_dim;
    const float inv_total = 1.0f / total;
    for (int d = threadIdx.x; d < head_dim; d += kThreads) {
      float o = 0.0f;
#pragma unroll
      for (int w = 0; w < kWarps; ++w) o += weight[w] * s_acc[w][d];
      out[d] = device::from_float<T>(o * inv_total);
    }
  } else {
    const int64_t index =
        (static_cast<int64_t>(seq) * a.num_heads + head) * a.num_partitions + part;
    float* partial = a.partial_acc + index * head_dim;
    for (int d = threadIdx.x; d < head_dim; d += kThreads) {
      float o = 0.0f;
#pragma unroll
      for (int w = 0; w < kWarps; ++w) o += weight[w] * s_acc[w][d];
      partial[d] = o;
    }
    if (threadIdx.x == 0) {
      a.partial_max[index] = block_max;
      a.partial_sum[index] = total;
    }
  }
}

// Merges a sequence's partitions: out = sum_p e^(m_p - M) acc_p / sum_p e^(m_p - M) l_p.
// One block per (head, sequence); dynamic shared memory (decode_reduce_shared_bytes): one
// weight per partition, then the total. Nothing static, so the launcher's 48 KiB bound is
// exact.
template <typename T, typename Kv>
__global__ void __launch_bounds__(kThreads) decode_reduce_kernel(const DecodeArgs<T, Kv> a) {
  extern __shared__ float s_weight[];
  float& s_total = s_weight[a.num_partitions];
  const int head = blockIdx.x;
  const int seq = blockIdx.y;
  const int context = a.seqs.context_lens[seq];
  const int parts = num_partitions(context, a.partition_tokens);
  const int64_t base = (static_cast<int64_t>(seq) * a.num_heads + head) * a.num_partitions;
  float global_max = -INFINITY;
  for (int p = 0; p < parts; ++p) global_max = fmaxf(global_max, a.partial_max[base + p]);
  for (int p = threadIdx.x; p < parts; p += kThreads) {
    s_weight[p] = softmax_rescale(a.partial_max[base + p], global_max);
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    float total = 0.0f;
    for (int p = 0; p < parts; ++p) total += s_weight[p] * a.partial_sum[base + p];
    s_total = total;
  }
  __syncthreads();
  const float inv_total = 1.0f / s_total;
  T* out = a.out + seq * a.out_stride + static_cast<int64_t>(head) * a.head_dim;
  for (int d = threadIdx.x; d < a.head_dim; d += kThreads) {
    float o = 0.0f;
    for (int p = 0; p < parts; ++p) o += s_weight[p] * a.partial_acc[(base + p) * a.head_dim + d];
    out[d] = device::from_float<T>(o * inv_total);
  }
}

}  // namespace

template <typename T, typename Kv>
cudaError_t launch_decode_attention(const DecodeArgs<T, Kv>& a, cudaStream_t stream) {
  if (a.seqs.num_seqs == 0) return cudaSuccess;
  const dim3 grid(static_cast<unsigned>(a.num_heads), static_cast<unsigned>(a.seqs.num_seqs),
                  static_cast<unsigned>(a.num_partitions));
  if (a.vectorized && a.head_dim == 128) {
    decode_attention_kernel<T, Kv, 128><<<grid, kThreads, 0, stream>>>(a);
  } else if (a.vectorized && a.head_dim == 64) {
    decode_attention_kernel<T, Kv, 64><<<grid, kThreads, 0, stream>>>(a);
  } else {
    decode_attention_kernel<T, Kv, 0><<<grid, kThreads, 0, stream>>>(a);
  }
  cudaError_t status = cudaGetLastError();
  if (status != cudaSuccess || a.num_partitions == 1) return status;
  const dim3 reduce_grid(static_cast<unsigned>(a.num_heads),
                         static_cast<unsigned>(a.seqs.num_seqs));
  const auto shared = static_cast<size_t>(decode_reduce_shared_bytes(a.num_partitions));
  decode_reduce_kernel<T, Kv><<<reduce_grid, kThreads, shared, stream>>>(a);
  return cudaGetLastError();
}

#define KVLAB_INSTANTIATE_DECODE(T)                                                              \
  template cudaError_t launch_decode_attention<T, DeviceKvArena<const T>>(                       \
      const DecodeArgs<T, DeviceKvArena<const T>>&, cudaStream_t);                               \
  template cudaError_t launch_decode_attention<T, DeviceScaledKvArena<Fp8E4m3Code>>(             \
      const DecodeArgs<T, DeviceScaledKvArena<Fp8E4m3Code>>&, cudaStream_t);                     \
  template cudaError_t launch_decode_attention<T, DeviceScaledKvArena<Int8Code>>(                \
      const DecodeArgs<T, DeviceScaledKvArena<Int8Code>>&, cudaStream_t);
KVLAB_INSTANTIATE_DECODE(float)
KVLAB_INSTANTIATE_DECODE(__half)
KVLAB_INSTANTIATE_DECODE(__nv_bfloat16)

}  // namespace kvlab::cuda
