// Launchers of the row-wise and element-wise kernels (elementwise_kernels.cu): RMSNorm,
// LayerNorm, bias add / ReLU, OPT's token + position embedding, rotary embedding,
// SiLU-and-multiply, row gather (embedding lookup), fp32 -> storage conversion, dummy-weight
// fill and greedy argmax. Raw arguments (strides in elements),
// cudaError_t out; the checked API with the CPU ops' contracts is elementwise.h.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/cuda/dummy_weights.h"

namespace kvlab::cuda {

// out[r] = x[r] / sqrt(mean(x[r]^2) + eps) * weight; out may alias x.
template <typename T>
cudaError_t launch_rms_norm(const T* x, int64_t x_stride, const T* weight, float eps, T* out,
                            int64_t out_stride, int64_t rows, int32_t cols, cudaStream_t stream);

// LayerNorm with weight and bias (population variance, fp32 sums); out may alias x.
template <typename T>
cudaError_t launch_layer_norm(const T* x, int64_t x_stride, const T* weight, const T* bias,
                              float eps, T* out, int64_t out_stride, int64_t rows, int32_t cols,
                              cudaStream_t stream);

// out[r][c] = x[r][c] + bias[c] (bias null: + 0), then max(., 0) when `relu`; out may alias x.
template <typename T>
cudaError_t launch_bias_act(const T* x, int64_t x_stride, const T* bias, bool relu, T* out,
                            int64_t out_stride, int64_t rows, int32_t cols, cudaStream_t stream);

// out[r] = tokens_table[token_ids[r]] + positions_table[positions[r] + position_offset]; both
// tables are [*][cols], densely packed.
template <typename T>
cudaError_t launch_token_position_embedding(const T* tokens_table, const T* positions_table,
                                            const int32_t* token_ids, const int32_t* positions,
                                            int32_t position_offset, T* out, int64_t out_stride,
                                            int64_t rows, int32_t cols, cudaStream_t stream);

// Rotate-half RoPE in place on `num_heads` heads of head_dim at the start of each row. The
// angle tables are [max_positions][head_dim / 2] each: cos at cos_sin, sin right after.
template <typename T>
cudaError_t launch_rotary(T* x, int64_t x_stride, int64_t rows, int32_t num_heads, int32_t head_dim,
                          const int32_t* positions, const float* cos_sin, int32_t max_positions,
                          cudaStream_t stream);

// out[r][i] = silu(gate_up[r][i]) * gate_up[r][d + i], i < d.
template <typename T>
cudaError_t launch_silu_and_mul(const T* gate_up, int64_t gate_up_stride, T* out,
                                int64_t out_stride, int64_t rows, int32_t d, cudaStream_t stream);

// dst[r] = src[indices[r]] (cols elements each).
template <typename T>
cudaError_t launch_gather_rows(const T* src, int64_t src_stride, const int32_t* indices, T* dst,
                               int64_t dst_stride, int64_t rows, int64_t cols, cudaStream_t stream);

template <typename T>
cudaError_t launch_convert_from_float(const float* src, T* dst, int64_t count, cudaStream_t stream);

// dst[i] = dummy_weight_value(tensor_seed, i, range), i < count.
template <typename T>
cudaError_t launch_fill_dummy(T* dst, int64_t count, uint64_t tensor_seed, DummyRange range,
                              cudaStream_t stream);

// out[r] = index of the largest logits[r][*] (the lowest index among equals).
cudaError_t launch_argmax(const float* logits, int64_t stride, int64_t rows, int32_t cols,
                          int32_t* out, cudaStream_t stream);

}  // namespace kvlab::cuda
