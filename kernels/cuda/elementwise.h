// Row-wise ops of the Llama and OPT forwards on the GPU, the CUDA twins of the CPU reference ops
// with the same contracts: RMSNorm (kernels/cpu/rms_norm.h), LayerNorm (layer_norm.h), bias
// add and ReLU (gemm.h's linear with bias, activation.h), rotate-half RoPE (rotary.h),
// SiLU-and-multiply (activation.h), OPT's token + learned position embedding; plus what the device forward needs around them: row
// gathers (embedding lookup, last-token selection), fp32 -> storage conversion, the
// dummy-weight fill, and greedy argmax (kernels/cpu/sampling.h's argmax: lowest id on ties).
//
// Matrices are row-major with explicit row strides in elements; every pointer is device
// memory; everything is enqueued on `stream`. Bad shapes throw InvariantError, failed launches
// CudaError.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>
#include <vector>

#include "kernels/cuda/device_buffer.h"
#include "kernels/cuda/dtype.h"
#include "kernels/cuda/dummy_weights.h"

namespace kvlab::cuda {

// REQUIRES: weight has `cols` entries; out may alias x.
template <typename T>
void rms_norm(const T* x, int64_t x_stride, const T* weight, float eps, T* out, int64_t out_stride,
              int64_t rows, int32_t cols, cudaStream_t stream);

// LayerNorm with weight and bias (cols entries each): per row, mean and population variance
// (fp32 sums, two passes), out = (x - mean) / sqrt(var + eps) * weight + bias. out may alias x.
template <typename T>
void layer_norm(const T* x, int64_t x_stride, const T* weight, const T* bias, float eps, T* out,
                int64_t out_stride, int64_t rows, int32_t cols, cudaStream_t stream);

// x[r][c] += bias[c] in place (the bias of a linear layer, after the GEMM).
template <typename T>
void add_bias(T* x, int64_t x_stride, const T* bias, int64_t rows, int32_t cols,
              cudaStream_t stream);

// x[r][c] = max(x[r][c] + bias[c], 0) in place (OPT's fc1 bias fused with its ReLU).
template <typename T>
void bias_relu(T* x, int64_t x_stride, const T* bias, int64_t rows, int32_t cols,
               cudaStream_t stream);

// out[r][c] = max(x[r][c], 0); out may alias x.
template <typename T>
void relu(const T* x, int64_t x_stride, T* out, int64_t out_stride, int64_t rows, int32_t cols,
          cudaStream_t stream);

// OPT's input embedding: out[r] = tokens_table[token_ids[r]] + positions_table[positions[r] +
// position_offset], tables [*][cols] densely packed, token_ids and positions device arrays.
// REQUIRES: the ids and positions + offset index rows of their tables (the caller checks its
// host copies: CudaOptModel throws InputError past max_seq_len, as OptModel does).
template <typename T>
void token_position_embedding(const T* tokens_table, const T* positions_table,
                              const int32_t* token_ids, const int32_t* positions,
                              int32_t position_offset, T* out, int64_t out_stride, int64_t rows,
                              int32_t cols, cudaStream_t stream);

// The RoPE angle tables on the device: cos and sin of position * theta^(-2i / head_dim) for
// positions [0, max_positions) and i < head_dim / 2, computed on the host in double and
// rounded to float exactly as the CPU op does, so fp32 rotations agree with it bit for bit
// (up to the multiply-adds' rounding).
class RotaryTable {
 public:
  // REQUIRES: head_dim even and > 0, max_positions > 0, theta > 0.
  RotaryTable(int32_t head_dim, int32_t max_positions, double theta);

  // [cos table][sin table], each [max_positions][head_dim / 2] (host copy, for tests).
  static std::vector<float> host_table(int32_t head_dim, int32_t max_positions, double theta);

  const float* data() const { return table_.as<const float>(); }
  int32_t head_dim() const { return head_dim_; }
  int32_t max_positions() const { return max_positions_; }

 private:
  int32_t head_dim_;
  int32_t max_positions_;
  DeviceBuffer table_;
};

// Rotates the first `num_heads` heads (table.head_dim() wide) of every row in place; row r is
// the token at positions[r] (a device array).
// REQUIRES: 0 <= positions[r] < table.max_positions() (the caller checks its host copy);
// x_stride >= num_heads * head_dim.
template <typename T>
void apply_rotary(T* x, int64_t x_stride, int64_t rows, int32_t num_heads, const int32_t* positions,
                  const RotaryTable& table, cudaStream_t stream);

// out[r] = silu(gate_up[r][0:d]) * gate_up[r][d:2d].
template <typename T>
void silu_and_mul(const T* gate_up, int64_t gate_up_stride, T* out, int64_t out_stride,
                  int64_t rows, int32_t d, cudaStream_t stream);

// dst[r] = src[indices[r]] for r < rows (indices: a device array of valid row numbers).
template <typename T>
void gather_rows(const T* src, int64_t src_stride, const int32_t* indices, T* dst,
                 int64_t dst_stride, int64_t rows, int64_t cols, cudaStream_t stream);

template <typename T>
void convert_from_float(const float* src, T* dst, int64_t count, cudaStream_t stream);

// dst[i] = dummy_weight_value(tensor_seed, i, range) rounded to T (dummy_weights.h).
template <typename T>
void fill_dummy(T* dst, int64_t count, uint64_t tensor_seed, DummyRange range, cudaStream_t stream);

// out[r] = argmax of logits row r (lowest index among equals).
void argmax_rows(const float* logits, int64_t stride, int64_t rows, int32_t cols, int32_t* out,
                 cudaStream_t stream);

}  // namespace kvlab::cuda
