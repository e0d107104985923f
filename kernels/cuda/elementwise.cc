#include "kernels/cuda/elementwise.h"

#include <cmath>
#include <string>

#include "core/errors.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/elementwise_kernels.h"

namespace kvlab::cuda {

namespace {

std::string typed(const char* op, DType dtype) {
  return std::string(op) + " (" + dtype_name(dtype) + ")";
}

}  // namespace

template <typename T>
void rms_norm(const T* x, int64_t x_stride, const T* weight, float eps, T* out, int64_t out_stride,
              int64_t rows, int32_t cols, cudaStream_t stream) {
  check_invariant(rows >= 0 && cols > 0 && x_stride >= cols && out_stride >= cols,
                  "rms_norm: shape mismatch");
  check_cuda(launch_rms_norm(x, x_stride, weight, eps, out, out_stride, rows, cols, stream),
             typed("rms_norm", dtype_of<T>()));
}

template <typename T>
void layer_norm(const T* x, int64_t x_stride, const T* weight, const T* bias, float eps, T* out,
                int64_t out_stride, int64_t rows, int32_t cols, cudaStream_t stream) {
  check_invariant(rows >= 0 && cols > 0 && x_stride >= cols && out_stride >= cols,
                  "layer_norm: shape mismatch");
  check_cuda(launch_layer_norm(x, x_stride, weight, bias, eps, out, out_stride, rows, cols, stream),
             typed("layer_norm", dtype_of<T>()));
}

template <typename T>
void add_bias(T* x, int64_t x_stride, const T* bias, int64_t rows, int32_t cols,
              cudaStream_t stream) {
  check_invariant(rows >= 0 && cols >= 0 && x_stride >= cols && bias != nullptr,
                  "add_bias: shape mismatch");
  check_cuda(launch_bias_act(static_cast<const T*>(x), x_stride, bias, false, x, x_stride, rows,
                             cols, stream),
             typed("add_bias", dtype_of<T>()));
}

template <typename T>
void bias_relu(T* x, int64_t x_stride, const T* bias, int64_t rows, int32_t cols,
               cudaStream_t stream) {
  check_invariant(rows >= 0 && cols >= 0 && x_stride >= cols && bias != nullptr,
                  "bias_relu: shape mismatch");
  check_cuda(launch_bias_act(static_cast<const T*>(x), x_stride, bias, true, x, x_stride, rows,
                             cols, stream),
             typed("bias_relu", dtype_of<T>()));
}

template <typename T>
void relu(const T* x, int64_t x_stride, T* out, int64_t out_stride, int64_t rows, int32_t cols,
          cudaStream_t stream) {
  check_invariant(rows >= 0 && cols >= 0 && x_stride >= cols && out_stride >= cols,
                  "relu: shape mismatch");
  check_cuda(launch_bias_act(x, x_stride, static_cast<const T*>(nullptr), true, out, out_stride,
                             rows, cols, stream),
             typed("relu", dtype_of<T>()));
}

template <typename T>
void token_position_embedding(const T* tokens_table, const T* positions_table,
                              const int32_t* token_ids, const int32_t* positions,
                              int32_t position_offset, T* out, int64_t out_stride, int64_t rows,
                              int32_t cols, cudaStream_t stream) {
  check_invariant(rows >= 0 && cols > 0 && out_stride >= cols && position_offset >= 0,
                  "token_position_embedding: shape mismatch");
  check_cuda(launch_token_position_embedding(tokens_table, positions_table, token_ids, positions,
                                             position_offset, out, out_stride, rows, cols, stream),
             typed("token_position_embedding", dtype_of<T>()));
}

std::vector<float> RotaryTable::host_table(int32_t head_dim, int32_t max_positions, double theta) {
  check_invariant(head_dim > 0 && head_dim % 2 == 0 && max_positions > 0 && theta > 0,
                  "RotaryTable: head_dim must be even and positive, positions and theta positive");
  const int32_t half = head_dim / 2;
  std::vector<double> inv_freq(static_cast<size_t>(half));
  for (int32_t i = 0; i < half; ++i) {
    inv_freq[static_cast<size_t>(i)] = std::pow(theta, -2.0 * i / head_dim);
  }
  const size_t table = static_cast<size_t>(max_positions) * static_cast<size_t>(half);
  std::vector<float> out(2 * table);
  for (int32_t p = 0; p < max_positions; ++p) {
    for (int32_t i = 0; i < half; ++i) {
      const double angle = p * inv_freq[static_cast<size_t>(i)];
      const size_t at = static_cast<size_t>(p) * static_cast<size_t>(half) + static_cast<size_t>(i);
      out[at] = static_cast<float>(std::cos(angle));
      out[table + at] = static_cast<float>(std::sin(angle));
    }
  }
  return out;
}

RotaryTable::RotaryTable(int32_t head_dim, int32_t max_positions, double theta)
    : head_dim_(head_dim), max_positions_(max_positions) {
  const std::vector<float> host = host_table(head_dim, max_positions, theta);
  table_.reserve(host.size() * sizeof(float));
  check_cuda(
      cudaMemcpy(table_.data(), host.data(), host.size() * sizeof(float), cudaMemcpyHostToDevice),
      "RotaryTable: upload");
  // From pageable memory cudaMemcpy may return before the DMA lands: wait for it.
  check_cuda(cudaDeviceSynchronize(), "RotaryTable: upload");
}

template <typename T>
void apply_rotary(T* x, int64_t x_stride, int64_t rows, int32_t num_heads, const int32_t* positions,
                  const RotaryTable& table, cudaStream_t stream) {
  check_invariant(rows >= 0 && num_heads >= 0 && x_stride >= int64_t{num_heads} * table.head_dim(),
                  "apply_rotary: shape mismatch");
  check_cuda(launch_rotary(x, x_stride, rows, num_heads, table.head_dim(), positions, table.data(),
                           table.max_positions(), stream),
             typed("apply_rotary", dtype_of<T>()));
}

template <typename T>
void silu_and_mul(const T* gate_up, int64_t gate_up_stride, T* out, int64_t out_stride,
                  int64_t rows, int32_t d, cudaStream_t stream) {
  check_invariant(rows >= 0 && d >= 0 && gate_up_stride >= 2 * int64_t{d} && out_stride >= d,
                  "silu_and_mul: shape mismatch");
  check_cuda(launch_silu_and_mul(gate_up, gate_up_stride, out, out_stride, rows, d, stream),
             typed("silu_and_mul", dtype_of<T>()));
}

template <typename T>
void gather_rows(const T* src, int64_t src_stride, const int32_t* indices, T* dst,
                 int64_t dst_stride, int64_t rows, int64_t cols, cudaStream_t stream) {
  check_invariant(rows >= 0 && cols >= 0 && src_stride >= cols && dst_stride >= cols,
                  "gather_rows: shape mismatch");
  check_cuda(launch_gather_rows(src, src_stride, indices, dst, dst_stride, rows, cols, stream),
             typed("gather_rows", dtype_of<T>()));
}

template <typename T>
void convert_from_float(const float* src, T* dst, int64_t count, cudaStream_t stream) {
  check_invariant(count >= 0, "convert_from_float: negative count");
  check_cuda(launch_convert_from_float(src, dst, count, stream),
             typed("convert_from_float", dtype_of<T>()));
}

template <typename T>
void fill_dummy(T* dst, int64_t count, uint64_t tensor_seed, DummyRange range,
                cudaStream_t stream) {
  check_invariant(count >= 0, "fill_dummy: negative count");
  check_cuda(launch_fill_dummy(dst, count, tensor_seed, range, stream),
             typed("fill_dummy", dtype_of<T>()));
}

void argmax_rows(const float* logits, int64_t stride, int64_t rows, int32_t cols, int32_t* out,
                 cudaStream_t stream) {
  check_invariant(rows >= 0 && cols > 0 && stride >= cols, "argmax_rows: shape mismatch");
  check_cuda(launch_argmax(logits, stride, rows, cols, out, stream), "argmax_rows");
}

#define KVLAB_INSTANTIATE_ROW_OPS(T)                                                               \
  template void layer_norm<T>(const T*, int64_t, const T*, const T*, float, T*, int64_t, int64_t,  \
                              int32_t, cudaStream_t);                                              \
  template void add_bias<T>(T*, int64_t, const T*, int64_t, int32_t, cudaStream_t);                \
  template void bias_relu<T>(T*, int64_t, const T*, int64_t, int32_t, cudaStream_t);               \
  template void relu<T>(const T*, int64_t, T*, int64_t, int64_t, int32_t, cudaStream_t);           \
  template void token_position_embedding<T>(const T*, const T*, const int32_t*, const int32_t*,    \
                                            int32_t, T*, int64_t, int64_t, int32_t, cudaStream_t); \
  template void rms_norm<T>(const T*, int64_t, const T*, float, T*, int64_t, int64_t, int32_t,     \
                            cudaStream_t);                                                         \
  template void apply_rotary<T>(T*, int64_t, int64_t, int32_t, const int32_t*, const RotaryTable&, \
                                cudaStream_t);                                                     \
  template void silu_and_mul<T>(const T*, int64_t, T*, int64_t, int64_t, int32_t, cudaStream_t);   \
  template void gather_rows<T>(const T*, int64_t, const int32_t*, T*, int64_t, int64_t, int64_t,   \
                               cudaStream_t);                                                      \
  template void convert_from_float<T>(const float*, T*, int64_t, cudaStream_t);                    \
  template void fill_dummy<T>(T*, int64_t, uint64_t, DummyRange, cudaStream_t);

KVLAB_INSTANTIATE_ROW_OPS(float)
KVLAB_INSTANTIATE_ROW_OPS(__half)
KVLAB_INSTANTIATE_ROW_OPS(__nv_bfloat16)

}  // namespace kvlab::cuda
