// Device helpers shared by the .cu files: element conversions (fp32 accumulation for every
// storage type, quantized KV codes included), vectorized loads, and warp / block reductions.
// nvcc only.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "kernels/cuda/device_kv_view.h"
#include "kernels/kv_quant_math.h"

namespace kvlab::cuda::device {

constexpr int kWarpSize = 32;

__device__ __forceinline__ float to_float(float x) { return x; }
__device__ __forceinline__ float to_float(__half x) { return __half2float(x); }
__device__ __forceinline__ float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }
// A quantized code's value before its vector's scale (kernels/kv_quant_math.h).
__device__ __forceinline__ float to_float(Fp8E4m3Code x) { return kv_quant::fp8_e4m3_decode(x.bits); }
__device__ __forceinline__ float to_float(Int8Code x) { return kv_quant::int8_decode(x.value); }

// Element d of the K (or V: `k` false) vector of (slot, head) as fp32: as stored, or a
// quantized code times its vector's scale (the CPU's dequantize_kv, to the bit).
template <typename Kv>
__device__ __forceinline__ float kv_element(const Kv& arena, bool k, int64_t slot, int head, int d) {
  const float x = to_float((k ? arena.k_at(slot, head) : arena.v_at(slot, head))[d]);
  if constexpr (Kv::kScaled) {
    return x * *(k ? arena.k_scale_at(slot, head) : arena.v_scale_at(slot, head));
  } else {
    return x;
  }
}

template <typename T>
__device__ __forceinline__ T from_float(float x);
template <>
__device__ __forceinline__ float from_float<float>(float x) {
  return x;
}
template <>
__device__ __forceinline__ __half from_float<__half>(float x) {
  return __float2half_rn(x);
}
template <>
__device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float x) {
  return __float2bfloat16_rn(x);
}

// out[0..N) = p[0..N) as floats, in one load of N * sizeof(T) bytes when that is 4, 8 or 16
// (the caller guarantees the alignment), element by element otherwise.
template <typename T, int N>
__device__ __forceinline__ void load_floats(const T* __restrict__ p, float* out) {
  constexpr int kBytes = N * static_cast<int>(sizeof(T));
  if constexpr (kBytes == 16) {
    const uint4 raw = *reinterpret_cast<const uint4*>(p);
    const T* e = reinterpret_cast<const T*>(&raw);
#pragma unroll
    for (int i = 0; i < N; ++i) out[i] = to_float(e[i]);
  } else if constexpr (kBytes == 8) {
    const uint2 raw = *reinterpret_cast<const uint2*>(p);
    const T* e = reinterpret_cast<const T*>(&raw);
#pragma unroll
    for (int i = 0; i < N; ++i) out[i] = to_float(e[i]);
  } else if constexpr (kBytes == 4) {
    const uint32_t raw = *reinterpret_cast<const uint32_t*>(p);
    const T* e = reinterpret_cast<const T*>(&raw);
#pragma unroll
    for (int i = 0; i < N; ++i) out[i] = to_float(e[i]);
  } else {
#pragma unroll
    for (int i = 0; i < N; ++i) out[i] = to_float(p[i]);
  }
}

__device__ __forceinline__ float warp_sum(float x) {
#pragma unroll
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) {
    x += __shfl_xor_sync(0xffffffffu, x, offset);
  }
  return x;
}

__device__ __forceinline__ float warp_max(float x) {
#pragma unroll
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) {
    x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, offset));
  }
  return x;
}

// Sum over the block; every thread gets the result. `scratch` holds one float per warp.
// REQUIRES: blockDim.x a multiple of 32, at most 1024; called by every thread of the block.
__device__ __forceinline__ float block_sum(float x, float* scratch) {
  const int lane = threadIdx.x % kWarpSize, warp = threadIdx.x / kWarpSize;
  const int num_warps = blockDim.x / kWarpSize;
  x = warp_sum(x);
  __syncthreads();  // scratch may still be read by a previous call
  if (lane == 0) scratch[warp] = x;
  __syncthreads();
  float total = 0.0f;
  for (int w = 0; w < num_warps; ++w) total += scratch[w];
  return total;
}

}  // namespace kvlab::cuda::device
