// Prefill attention over the KV cache (paged or contiguous): causal, chunk-aware.
//
// One thread block per (tile of 16 query rows, query head, sequence), four warps; warp w owns
// rows w, w + 4, w + 8, w + 12 of the tile (interleaved, so the causal triangle spreads
// evenly). The block walks the keys its rows can see, 32 at a time: it gathers the tile's K
// and V rows (through the slot table: any layout) into shared memory as fp32, then each warp,
// for each of its rows, scores the 32 keys (lane j takes key j: a dot product over head_dim
// from shared memory, K rows padded by one float so lanes hit distinct banks; a quantized
// cache's codes are dequantized, code times scale, as they are gathered), masks keys past
// the row's position, and folds them into the row's online softmax. Each lane accumulates
// head_dim / 32 output elements (element c * 32 + lane). No tensor cores: simple first,
// a later session can swap in an MMA kernel against the same tests.
#include <cmath>

#include "kernels/cuda/attention_kernels.h"
#include "kernels/cuda/device_math.cuh"
#include "kernels/cuda/softmax_math.h"

namespace kvlab::cuda {

namespace {

using device::kWarpSize;
using device::to_float;
using device::warp_max;
using device::warp_sum;

constexpr int kThreads = 128;
constexpr int kWarps = kThreads / kWarpSize;
constexpr int kQueryRows = 16;
constexpr int kRowsPerWarp = kQueryRows / kWarps;
constexpr int kKeyTile = kWarpSize;  // lane j scores key j of the tile
constexpr int kSlotBytes = kKeyTile * static_cast<int>(sizeof(int64_t));  // the tile's slots

// Launch bounds (128 threads, min 1 block): without the second argument ptxas aimed at 64
// registers for the 64 / 128 variants and spilled (8-byte stack frame, README's resource
// table); with it they take 84 / 90 registers, no spill, and the block's ~41 KiB of shared
// memory (head_dim 128) still limits residency before registers do.
template <typename T, typename Kv, int kHeadDim>
__global__ void __launch_bounds__(kThreads, 1) prefill_attention_kernel(const PrefillArgs<T, Kv> a) {
  constexpr int kPerLane = (kHeadDim > 0 ? kHeadDim : kMaxHeadDim) / kWarpSize;
  const int tile = blockIdx.x;
  const int head = blockIdx.y;
  const int seq = blockIdx.z;
  const int q_first = a.query_indptr[seq];
  const int q_len = a.query_indptr[seq + 1] - q_first;
  const int row0 = tile * kQueryRows;
  if (row0 >= q_len) return;  // a shorter chunk than the longest
  const int rows = min(kQueryRows, q_len - row0);
  const int context = a.seqs.context_lens[seq];
  const int first_pos = context - q_len + row0;  // position of the tile's row 0
  const int kv_end = first_pos + rows;           // the last row sees keys [0, kv_end)
  const int head_dim = kHeadDim > 0 ? kHeadDim : a.head_dim;
  const int k_stride = head_dim + 1;
  const int kv_head = head / (a.num_heads / a.arena.num_kv_heads);
  const int lane = threadIdx.x % kWarpSize;
  const int warp = threadIdx.x / kWarpSize;

  // All of the block's shared memory is dynamic (prefill_shared_bytes), so the launcher's
  // opt-in test against 48 KiB is exact: a static array next to it would count too.
  extern __shared__ __align__(16) unsigned char smem[];
  int64_t* slot_s = reinterpret_cast<int64_t*>(smem);        // [kKeyTile]
  float* q_s = reinterpret_cast<float*>(smem + kSlotBytes);  // [kQueryRows][head_dim]
  float* k_s = q_s + kQueryRows * head_dim;                  // [kKeyTile][head_dim + 1]
  float* v_s = k_s + kKeyTile * k_stride;                    // [kKeyTile][head_dim]

  for (int e = threadIdx.x; e < kQueryRows * head_dim; e += kThreads) {
    const int r = e / head_dim;
    const int d = e % head_dim;
    q_s[e] = r < rows ? to_float(a.q[static_cast<int64_t>(q_first + row0 + r) * a.q_stride +
                                     static_cast<int64_t>(head) * head_dim + d])
                      : 0.0f;
  }

  float m[kRowsPerWarp];
  float l[kRowsPerWarp];
  float acc[kRowsPerWarp][kPerLane];
#pragma unroll
  for (int i = 0; i < kRowsPerWarp; ++i) {
    m[i] = -INFINITY;
    l[i] = 0.0f;
#pragma unroll
    for (int c = 0; c < kPerLane; ++c) acc[i][c] = 0.0f;
  }

  for (int k0 = 0; k0 < kv_end; k0 += kKeyTile) {
    __syncthreads();  // the previous tile is consumed (and q_s written, the first time)
    if (threadIdx.x < kKeyTile) {
      const int key = k0 + static_cast<int>(threadIdx.x);
      slot_s[threadIdx.x] = key < kv_end ? a.seqs.slot_of(seq, key) : -1;
    }
    __syncthreads();
    for (int e = threadIdx.x; e < kKeyTile * head_dim; e += kThreads) {
      const int j = e / head_dim;
      const int d = e % head_dim;
      const int64_t slot = slot_s[j];
      k_s[j * k_stride + d] = slot >= 0 ? device::kv_element(a.arena, true, slot, kv_head, d) : 0.0f;
      v_s[j * head_dim + d] = slot >= 0 ? device::kv_element(a.arena, false, slot, kv_head, d) : 0.0f;
    }
    __syncthreads();

#pragma unroll
    for (int i = 0; i < kRowsPerWarp; ++i) {
      const int r = i * kWarps + warp;
      const int pos = first_pos + r;
      // Both conditions are uniform across the warp.
      if (r >= rows || k0 > pos) continue;
      const int key = k0 + lane;
      float score = -INFINITY;
      if (key <= pos) {
        const float* q_row = q_s + r * head_dim;
        const float* k_row = k_s + lane * k_stride;
        float dot = 0.0f;
        for (int d = 0; d < head_dim; ++d) dot += q_row[d] * k_row[d];
        score = dot * a.scale;
      }
      // Key k0 <= pos is visible, so the new max is finite.
      const float alpha = softmax_advance(m[i], l[i], warp_max(score));
      const float p = key <= pos ? expf(score - m[i]) : 0.0f;
      l[i] += warp_sum(p);
#pragma unroll
      for (int c = 0; c < kPerLane; ++c) acc[i][c] *= alpha;
      const int visible = min(kKeyTile, pos - k0 + 1);
      for (int j = 0; j < visible; ++j) {
        const float pj = __shfl_sync(0xffffffffu, p, j);
        const float* v_row = v_s + j * head_dim;
#pragma unroll
        for (int c = 0; c < kPerLane; ++c) {
          const int d = c * kWarpSize + lane;
          if (kHeadDim > 0 || d < head_dim) acc[i][c] += pj * v_row[d];
        }
      }
    }
  }

#pragma unroll
  for (int i = 0; i < kRowsPerWarp; ++i) {
    const int r = i * kWarps + warp;
    if (r >= rows) continue;
    T* out = a.out + static_cast<int64_t>(q_first + row0 + r) * a.out_stride +
             static_cast<int64_t>(head) * head_dim;
    const float inv = 1.0f / l[i];
#pragma unroll
    for (int c = 0; c < kPerLane; ++c) {
      const int d = c * kWarpSize + lane;
      if (kHeadDim > 0 || d < head_dim) out[d] = device::from_float<T>(acc[i][c] * inv);
    }
  }
}

template <typename T, typename Kv, int kHeadDim>
cudaError_t launch(const PrefillArgs<T, Kv>& a, cudaStream_t stream) {
  const int64_t shared = prefill_shared_bytes(a.head_dim);
  if (shared > kDefaultSharedBytes) {
    const cudaError_t status =
        cudaFuncSetAttribute(prefill_attention_kernel<T, Kv, kHeadDim>,
                             cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(shared));
    if (status != cudaSuccess) return status;
  }
  const dim3 grid(static_cast<unsigned>((a.max_q_len + kQueryRows - 1) / kQueryRows),
                  static_cast<unsigned>(a.num_heads), static_cast<unsigned>(a.seqs.num_seqs));
  prefill_attention_kernel<T, Kv, kHeadDim><<<grid, kThreads, static_cast<size_t>(shared), stream>>>(a);
  return cudaGetLastError();
}

}  // namespace

int64_t prefill_shared_bytes(int32_t head_dim) {
  const int64_t d = head_dim;
  return kSlotBytes +
         static_cast<int64_t>(sizeof(float)) * (kQueryRows * d + kKeyTile * (d + 1) + kKeyTile * d);
}

template <typename T, typename Kv>
cudaError_t launch_prefill_attention(const PrefillArgs<T, Kv>& a, cudaStream_t stream) {
  if (a.seqs.num_seqs == 0 || a.max_q_len == 0) return cudaSuccess;
  if (a.head_dim == 128) return launch<T, Kv, 128>(a, stream);
  if (a.head_dim == 64) return launch<T, Kv, 64>(a, stream);
  return launch<T, Kv, 0>(a, stream);
}

#define KVLAB_INSTANTIATE_PREFILL(T)                                                             \
  template cudaError_t launch_prefill_attention<T, DeviceKvArena<const T>>(                      \
      const PrefillArgs<T, DeviceKvArena<const T>>&, cudaStream_t);                              \
  template cudaError_t launch_prefill_attention<T, DeviceScaledKvArena<Fp8E4m3Code>>(            \
      const PrefillArgs<T, DeviceScaledKvArena<Fp8E4m3Code>>&, cudaStream_t);                    \
  template cudaError_t launch_prefill_attention<T, DeviceScaledKvArena<Int8Code>>(               \
      const PrefillArgs<T, DeviceScaledKvArena<Int8Code>>&, cudaStream_t);
KVLAB_INSTANTIATE_PREFILL(float)
KVLAB_INSTANTIATE_PREFILL(__half)
KVLAB_INSTANTIATE_PREFILL(__nv_bfloat16)

}  // namespace kvlab::cuda
