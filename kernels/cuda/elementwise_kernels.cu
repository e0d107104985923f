#include <cmath>
#include <cstdint>

#include "kernels/cuda/device_math.cuh"
#include "kernels/cuda/elementwise_kernels.h"

namespace kvlab::cuda {

namespace {

using device::from_float;
using device::kWarpSize;
using device::to_float;

constexpr int kThreads = 256;

unsigned blocks_for(int64_t count) {
  const int64_t blocks = (count + kThreads - 1) / kThreads;
  return static_cast<unsigned>(blocks < 65535 * 16 ? blocks : 65535 * 16);
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    rms_norm_kernel(const T* x, int64_t x_stride, const T* weight, float eps, T* out,
                    int64_t out_stride, int32_t cols) {
  __shared__ float scratch[kThreads / kWarpSize];
  const T* row = x + static_cast<int64_t>(blockIdx.x) * x_stride;
  float sum_sq = 0.0f;
  for (int c = threadIdx.x; c < cols; c += kThreads) {
    const float v = to_float(row[c]);
    sum_sq += v * v;
  }
  sum_sq = device::block_sum(sum_sq, scratch);
  // As the CPU op: the inverse root in double, then rounded to float. Every read of `row`
  // happened before block_sum's barrier, so writing `out` (which may alias it) is safe.
  const float inv_rms =
      static_cast<float>(1.0 / sqrt(static_cast<double>(sum_sq) / cols + static_cast<double>(eps)));
  T* out_row = out + static_cast<int64_t>(blockIdx.x) * out_stride;
  for (int c = threadIdx.x; c < cols; c += kThreads) {
    out_row[c] = from_float<T>((to_float(row[c]) * inv_rms) * to_float(weight[c]));
  }
}

// LayerNorm of one row per block: mean, then the population variance around it (two passes
// over the row, fp32 sums), the inverse root in double as the CPU op; out may alias x (every
// read of the row precedes the second block_sum's barriers).
template <typename T>
__global__ void __launch_bounds__(kThreads)
    layer_norm_kernel(const T* x, int64_t x_stride, const T* weight, const T* bias, float eps,
                      T* out, int64_t out_stride, int32_t cols) {
  __shared__ float scratch[kThreads / kWarpSize];
  const T* row = x + static_cast<int64_t>(blockIdx.x) * x_stride;
  float sum = 0.0f;
  for (int c = threadIdx.x; c < cols; c += kThreads) sum += to_float(row[c]);
  const float mean = device::block_sum(sum, scratch) / static_cast<float>(cols);
  float sum_sq = 0.0f;
  for (int c = threadIdx.x; c < cols; c += kThreads) {
    const float d = to_float(row[c]) - mean;
    sum_sq += d * d;
  }
  const float var = device::block_sum(sum_sq, scratch) / static_cast<float>(cols);
  const float inv_std =
      static_cast<float>(1.0 / sqrt(static_cast<double>(var) + static_cast<double>(eps)));
  T* out_row = out + static_cast<int64_t>(blockIdx.x) * out_stride;
  for (int c = threadIdx.x; c < cols; c += kThreads) {
    out_row[c] = from_float<T>(((to_float(row[c]) - mean) * inv_std) * to_float(weight[c]) +
                               to_float(bias[c]));
  }
}

// out[r][c] = act(x[r][c] + bias[c]) (bias may be null; act is ReLU or the identity).
template <typename T, bool kRelu>
__global__ void __launch_bounds__(kThreads)
    bias_act_kernel(const T* x, int64_t x_stride, const T* bias, T* out, int64_t out_stride,
                    int32_t cols) {
  const T* row = x + static_cast<int64_t>(blockIdx.x) * x_stride;
  T* out_row = out + static_cast<int64_t>(blockIdx.x) * out_stride;
  for (int c = threadIdx.x; c < cols; c += kThreads) {
    float v = to_float(row[c]);
    if (bias != nullptr) v += to_float(bias[c]);
    if (kRelu) v = fmaxf(v, 0.0f);
    out_row[c] = from_float<T>(v);
  }
}

// out[r] = tokens_table[token_ids[r]] + positions_table[positions[r] + position_offset].
template <typename T>
__global__ void __launch_bounds__(kThreads)
    token_position_embedding_kernel(const T* tokens_table, const T* positions_table,
                                    const int32_t* token_ids, const int32_t* positions,
                                    int32_t position_offset, T* out, int64_t out_stride,
                                    int32_t cols) {
  const T* tok = tokens_table + static_cast<int64_t>(token_ids[blockIdx.x]) * cols;
  const T* pos =
      positions_table + (static_cast<int64_t>(positions[blockIdx.x]) + position_offset) * cols;
  T* out_row = out + static_cast<int64_t>(blockIdx.x) * out_stride;
  for (int c = threadIdx.x; c < cols; c += kThreads) {
    out_row[c] = from_float<T>(to_float(tok[c]) + to_float(pos[c]));
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    rotary_kernel(T* x, int64_t x_stride, int32_t num_heads, int32_t head_dim,
                  const int32_t* positions, const float* cos_sin, int32_t max_positions) {
  const int half = head_dim / 2;
  T* row = x + static_cast<int64_t>(blockIdx.x) * x_stride;
  const int64_t position = positions[blockIdx.x];
  const float* cos_row = cos_sin + position * half;
  const float* sin_row = cos_sin + (static_cast<int64_t>(max_positions) + position) * half;
  for (int e = threadIdx.x; e < num_heads * half; e += kThreads) {
    const int head = e / half;
    const int i = e % half;
    T* lo_ptr = row + static_cast<int64_t>(head) * head_dim + i;
    T* hi_ptr = lo_ptr + half;
    const float lo = to_float(*lo_ptr);
    const float hi = to_float(*hi_ptr);
    const float c = cos_row[i];
    const float s = sin_row[i];
    *lo_ptr = from_float<T>(lo * c - hi * s);
    *hi_ptr = from_float<T>(hi * c + lo * s);
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    silu_and_mul_kernel(const T* gate_up, int64_t gate_up_stride, T* out, int64_t out_stride,
                        int32_t d) {
  const T* row = gate_up + static_cast<int64_t>(blockIdx.x) * gate_up_stride;
  T* out_row = out + static_cast<int64_t>(blockIdx.x) * out_stride;
  for (int i = threadIdx.x; i < d; i += kThreads) {
    const float gate = to_float(row[i]);
    const float up = to_float(row[d + i]);
    out_row[i] = from_float<T>(gate / (1.0f + expf(-gate)) * up);
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    gather_rows_kernel(const T* src, int64_t src_stride, const int32_t* indices, T* dst,
                       int64_t dst_stride, int64_t cols) {
  const T* from = src + static_cast<int64_t>(indices[blockIdx.x]) * src_stride;
  T* to = dst + static_cast<int64_t>(blockIdx.x) * dst_stride;
  for (int64_t c = threadIdx.x; c < cols; c += kThreads) to[c] = from[c];
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    convert_kernel(const float* src, T* dst, int64_t count) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * kThreads;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x; i < count;
       i += stride) {
    dst[i] = from_float<T>(src[i]);
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads)
    fill_dummy_kernel(T* dst, int64_t count, uint64_t tensor_seed, DummyRange range) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * kThreads;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x; i < count;
       i += stride) {
    dst[i] = from_float<T>(dummy_weight_value(tensor_seed, i, range));
  }
}

// (value, index) that wins: the larger value, the lower index among equals.
__device__ __forceinline__ bool beats(float v, int32_t i, float best_v, int32_t best_i) {
  return v > best_v || (v == best_v && i < best_i);
}

__global__ void __launch_bounds__(kThreads)
    argmax_kernel(const float* logits, int64_t stride, int32_t cols, int32_t* out) {
  __shared__ float s_value[kThreads / kWarpSize];
  __shared__ int32_t s_index[kThreads / kWarpSize];
  const float* row = logits + static_cast<int64_t>(blockIdx.x) * stride;
  float best_v = -INFINITY;
  int32_t best_i = cols;  // loses to any real entry on a tie at -inf
  for (int32_t c = threadIdx.x; c < cols; c += kThreads) {
    if (beats(row[c], c, best_v, best_i)) {
      best_v = row[c];
      best_i = c;
    }
  }
#pragma unroll
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) {
    const float v = __shfl_xor_sync(0xffffffffu, best_v, offset);
    const int32_t i = __shfl_xor_sync(0xffffffffu, best_i, offset);
    if (beats(v, i, best_v, best_i)) {
      best_v = v;
      best_i = i;
    }
  }
  const int lane = threadIdx.x % kWarpSize, warp = threadIdx.x / kWarpSize;
  if (lane == 0) {
    s_value[warp] = best_v;
    s_index[warp] = best_i;
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int w = 1; w < kThreads / kWarpSize; ++w) {
      if (beats(s_value[w], s_index[w], best_v, best_i)) {
        best_v = s_value[w];
        best_i = s_index[w];
      }
    }
    // Only NaN everywhere leaves no winner; the CPU op then answers 0.
    out[blockIdx.x] = best_i < cols ? best_i : 0;
  }
}

}  // namespace

template <typename T>
cudaError_t launch_rms_norm(const T* x, int64_t x_stride, const T* weight, float eps, T* out,
                            int64_t out_stride, int64_t rows, int32_t cols, cudaStream_t stream) {
  if (rows == 0) return cudaSuccess;
  rms_norm_kernel<T><<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(x, x_stride, weight, eps,
                                                                           out, out_stride, cols);
  return cudaGetLastError();
}

template <typename T>
cudaError_t launch_layer_norm(const T* x, int64_t x_stride, const T* weight, const T* bias,
                              float eps, T* out, int64_t out_stride, int64_t rows, int32_t cols,
                              cudaStream_t stream) {
  if (rows == 0) return cudaSuccess;
  layer_norm_kernel<T><<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(
      x, x_stride, weight, bias, eps, out, out_stride, cols);
  return cudaGetLastError();
}

template <typename T>
cudaError_t launch_bias_act(const T* x, int64_t x_stride, const T* bias, bool relu, T* out,
                            int64_t out_stride, int64_t rows, int32_t cols, cudaStream_t stream) {
  if (rows == 0) return cudaSuccess;
  if (relu) {
    bias_act_kernel<T, true><<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(
        x, x_stride, bias, out, out_stride, cols);
  } else {
    bias_act_kernel<T, false><<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(
        x, x_stride, bias, out, out_stride, cols);
  }
  return cudaGetLastError();
}

template <typename T>
cudaError_t launch_token_position_embedding(const T* tokens_table, const T* positions_table,
                                            const int32_t* token_ids, const int32_t* positions,
                                            int32_t position_offset, T* out, int64_t out_stride,
                                            int64_t rows, int32_t cols, cudaStream_t stream) {
  if (rows == 0) return cudaSuccess;
  token_position_embedding_kernel<T><<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(
      tokens_table, positions_table, token_ids, positions, position_offset, out, out_stride, cols);
  return cudaGetLastError();
}

template <typename T>
cudaError_t launch_rotary(T* x, int64_t x_stride, int64_t rows, int32_t num_heads, int32_t head_dim,
                          const int32_t* positions, const float* cos_sin, int32_t max_positions,
                          cudaStream_t stream) {
  if (rows == 0) return cudaSuccess;
  rotary_kernel<T><<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(
      x, x_stride, num_heads, head_dim, positions, cos_sin, max_positions);
  return cudaGetLastError();
}

template <typename T>
cudaError_t launch_silu_and_mul(const T* gate_up, int64_t gate_up_stride, T* out,
                                int64_t out_stride, int64_t rows, int32_t d, cudaStream_t stream) {
  if (rows == 0) return cudaSuccess;
  silu_and_mul_kernel<T><<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(
      gate_up, gate_up_stride, out, out_stride, d);
  return cudaGetLastError();
}

template <typename T>
cudaError_t launch_gather_rows(const T* src, int64_t src_stride, const int32_t* indices, T* dst,
                               int64_t dst_stride, int64_t rows, int64_t cols,
                               cudaStream_t stream) {
  if (rows == 0) return cudaSuccess;
  gather_rows_kernel<T><<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(
      src, src_stride, indices, dst, dst_stride, cols);
  return cudaGetLastError();
}

template <typename T>
cudaError_t launch_convert_from_float(const float* src, T* dst, int64_t count,
                                      cudaStream_t stream) {
  if (count == 0) return cudaSuccess;
  convert_kernel<T><<<blocks_for(count), kThreads, 0, stream>>>(src, dst, count);
  return cudaGetLastError();
}

template <typename T>
cudaError_t launch_fill_dummy(T* dst, int64_t count, uint64_t tensor_seed, DummyRange range,
                              cudaStream_t stream) {
  if (count == 0) return cudaSuccess;
  fill_dummy_kernel<T><<<blocks_for(count), kThreads, 0, stream>>>(dst, count, tensor_seed, range);
  return cudaGetLastError();
}

cudaError_t launch_argmax(const float* logits, int64_t stride, int64_t rows, int32_t cols,
                          int32_t* out, cudaStream_t stream) {
  if (rows == 0) return cudaSuccess;
  argmax_kernel<<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(logits, stride, cols, out);
  return cudaGetLastError();
}

#define KVLAB_INSTANTIATE_ELEMENTWISE(T)                                                        \
  template cudaError_t launch_layer_norm<T>(const T*, int64_t, const T*, const T*, float, T*,   \
                                            int64_t, int64_t, int32_t, cudaStream_t);           \
  template cudaError_t launch_bias_act<T>(const T*, int64_t, const T*, bool, T*, int64_t,       \
                                          int64_t, int32_t, cudaStream_t);                      \
  template cudaError_t launch_token_position_embedding<T>(const T*, const T*, const int32_t*,   \
                                                          const int32_t*, int32_t, T*, int64_t, \
                                                          int64_t, int32_t, cudaStream_t);      \
  template cudaError_t launch_rms_norm<T>(const T*, int64_t, const T*, float, T*, int64_t,      \
                                          int64_t, int32_t, cudaStream_t);                      \
  template cudaError_t launch_rotary<T>(T*, int64_t, int64_t, int32_t, int32_t, const int32_t*, \
                                        const float*, int32_t, cudaStream_t);                   \
  template cudaError_t launch_silu_and_mul<T>(const T*, int64_t, T*, int64_t, int64_t, int32_t, \
                                              cudaStream_t);                                    \
  template cudaError_t launch_gather_rows<T>(const T*, int64_t, const int32_t*, T*, int64_t,    \
                                             int64_t, int64_t, cudaStream_t);                   \
  template cudaError_t launch_convert_from_float<T>(const float*, T*, int64_t, cudaStream_t);   \
  template cudaError_t launch_fill_dummy<T>(T*, int64_t, uint64_t, DummyRange, cudaStream_t);

KVLAB_INSTANTIATE_ELEMENTWISE(float)
KVLAB_INSTANTIATE_ELEMENTWISE(__half)
KVLAB_INSTANTIATE_ELEMENTWISE(__nv_bfloat16)

}  // namespace kvlab::cuda
