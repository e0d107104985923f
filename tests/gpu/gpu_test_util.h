// Helpers for the GPU suites: skipping cleanly without a device, moving fp32 test data to
// and from device arrays of any storage type, and the per-dtype tolerances the differential
// tests use against the CPU reference ops.
//
// Tolerances (relative, per element, against max(|reference|, 10% of the largest |reference|)
// so near-zero elements are judged on the tensor's scale): fp32 1e-5, fp16 1e-2, bf16 3e-2.
// Inputs are rounded to the storage type before the CPU reference sees them, so what is
// measured is the GPU op's own arithmetic and output rounding, not the input quantization.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/cpu/kv_cache.h"
#include "kernels/cpu/tensor.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device_buffer.h"
#include "kernels/cuda/device_query.h"
#include "kernels/cuda/dtype.h"
#include "kernels/cuda/kv_cache.h"

namespace kvlab::gpu_testing {

// The reason there is no usable device, or "" when there is one.
inline std::string no_device_reason() {
  static const std::string reason = [] {
    std::string why;
    return cuda::cuda_device_count(&why) > 0 ? std::string() : why;
  }();
  return reason;
}

// First statement of every test that needs a GPU.
#define KVLAB_REQUIRE_CUDA_DEVICE()                                                             \
  do {                                                                                          \
    const std::string kvlab_no_device = ::kvlab::gpu_testing::no_device_reason();               \
    if (!kvlab_no_device.empty()) GTEST_SKIP() << "no CUDA device (" << kvlab_no_device << ")"; \
  } while (0)

template <typename T>
double tolerance() {
  switch (cuda::dtype_of<T>()) {
    case cuda::DType::kF16:
      return 1e-2;
    case cuda::DType::kBF16:
      return 3e-2;
    case cuda::DType::kF32:
    default:
      return 1e-5;
  }
}

// Values as the storage type holds them.
template <typename T>
float round_to(float x) {
  return cuda::to_float_host(cuda::from_float_host<T>(x));
}
template <typename T>
cpu::RowMatrix rounded(const cpu::RowMatrix& m) {
  cpu::RowMatrix out = m;
  for (Eigen::Index i = 0; i < out.size(); ++i) out.data()[i] = round_to<T>(out.data()[i]);
  return out;
}

// A device array of T made from / read back as floats.
template <typename T>
class DeviceArray {
 public:
  explicit DeviceArray(int64_t count) : count_(count), buffer_(bytes(count)) {}
  DeviceArray(const float* values, int64_t count) : DeviceArray(count) { upload(values); }
  explicit DeviceArray(const cpu::RowMatrix& m) : DeviceArray(m.data(), m.size()) {}
  explicit DeviceArray(const std::vector<float>& v)
      : DeviceArray(v.data(), static_cast<int64_t>(v.size())) {}

  void upload(const float* values) {
    std::vector<T> host(static_cast<size_t>(count_));
    for (int64_t i = 0; i < count_; ++i)
      host[static_cast<size_t>(i)] = cuda::from_float_host<T>(values[i]);
    cuda::check_cuda(cudaMemcpy(buffer_.data(), host.data(), bytes(count_), cudaMemcpyHostToDevice),
                     "DeviceArray upload");
    // cudaMemcpy from pageable memory may return before the DMA lands.
    cuda::check_cuda(cudaDeviceSynchronize(), "DeviceArray upload");
  }
  std::vector<float> to_floats() const {
    std::vector<T> host(static_cast<size_t>(count_));
    cuda::check_cuda(cudaDeviceSynchronize(), "DeviceArray: kernels before download");
    cuda::check_cuda(cudaMemcpy(host.data(), buffer_.data(), bytes(count_), cudaMemcpyDeviceToHost),
                     "DeviceArray download");
    std::vector<float> out(host.size());
    for (size_t i = 0; i < host.size(); ++i) out[i] = cuda::to_float_host(host[i]);
    return out;
  }
  cpu::RowMatrix to_matrix(Eigen::Index rows, Eigen::Index cols) const {
    const std::vector<float> v = to_floats();
    return Eigen::Map<const cpu::RowMatrix>(v.data(), rows, cols);
  }
  T* data() const { return buffer_.as<T>(); }
  int64_t size() const { return count_; }

 private:
  static size_t bytes(int64_t count) { return static_cast<size_t>(count) * sizeof(T); }
  int64_t count_;
  cuda::DeviceBuffer buffer_;
};

// A device copy of a host int array (indices, slot mappings, tables).
template <typename I>
cuda::DeviceBuffer device_copy(const std::vector<I>& values) {
  cuda::DeviceBuffer buffer(std::max<size_t>(1, values.size() * sizeof(I)));
  if (!values.empty()) {
    cuda::check_cuda(
        cudaMemcpy(buffer.data(), values.data(), values.size() * sizeof(I), cudaMemcpyHostToDevice),
        "device_copy");
    cuda::check_cuda(cudaDeviceSynchronize(), "device_copy");
  }
  return buffer;
}

// Copies a host fp32 cache (NaN-poisoned slots included) into a device cache of the same
// shape, converting to its dtype; and back.
template <typename T>
void upload_cache(const cpu::CpuKvCache& host, cuda::CudaKvCache& device) {
  for (int32_t l = 0; l < host.num_layers(); ++l) {
    const KvArenaView<const float> from = host.layer(l);
    const KvArenaView<T> to = device.layer<T>(l);
    const int64_t n = host.num_slots() * host.slot_floats();
    std::vector<T> k(static_cast<size_t>(n)), v(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      k[static_cast<size_t>(i)] = cuda::from_float_host<T>(from.k[i]);
      v[static_cast<size_t>(i)] = cuda::from_float_host<T>(from.v[i]);
    }
    // cudaMemcpyDefault: the cache may be device memory or the pinned host pool (UVA).
    cuda::check_cuda(cudaMemcpy(to.k, k.data(), n * sizeof(T), cudaMemcpyDefault), "upload K");
    cuda::check_cuda(cudaMemcpy(to.v, v.data(), n * sizeof(T), cudaMemcpyDefault), "upload V");
  }
  cuda::check_cuda(cudaDeviceSynchronize(), "upload_cache");
}

template <typename T>
void download_cache(const cuda::CudaKvCache& device, cpu::CpuKvCache& host) {
  cuda::check_cuda(cudaDeviceSynchronize(), "download_cache: kernels before download");
  for (int32_t l = 0; l < host.num_layers(); ++l) {
    const KvArenaView<T> from = device.layer<T>(l);
    const KvArenaView<float> to = host.layer(l);
    const int64_t n = host.num_slots() * host.slot_floats();
    std::vector<T> k(static_cast<size_t>(n)), v(static_cast<size_t>(n));
    cuda::check_cuda(cudaMemcpy(k.data(), from.k, n * sizeof(T), cudaMemcpyDefault), "download K");
    cuda::check_cuda(cudaMemcpy(v.data(), from.v, n * sizeof(T), cudaMemcpyDefault), "download V");
    for (int64_t i = 0; i < n; ++i) {
      to.k[i] = cuda::to_float_host(k[static_cast<size_t>(i)]);
      to.v[i] = cuda::to_float_host(v[static_cast<size_t>(i)]);
    }
  }
}

// Copies a quantized host cache (codes and scales, bytes as they are) into a quantized device
// cache of the same shape and storage, and back: the two layouts are the same
// (CudaKvCache::scaled_layer, cpu::KvLayerStore).
inline void check_same_scaled_shape(const cpu::CpuKvCache& host, const cuda::CudaKvCache& device) {
  if (host.dtype() != device.storage() || !device.scaled() ||
      host.num_layers() != device.num_layers() || host.num_slots() != device.num_slots() ||
      host.num_kv_heads() != device.num_kv_heads() || host.head_dim() != device.head_dim()) {
    throw std::invalid_argument("scaled cache copy: shapes or storage differ");
  }
}

inline void upload_scaled_cache(const cpu::CpuKvCache& host, cuda::CudaKvCache& device) {
  check_same_scaled_shape(host, device);
  const auto codes = static_cast<size_t>(host.num_slots() * host.slot_floats());
  const auto scales = static_cast<size_t>(host.num_slots() * host.num_kv_heads()) * sizeof(float);
  for (int32_t l = 0; l < host.num_layers(); ++l) {
    const cpu::KvLayerStore from = host.store(l);
    const cuda::ScaledKvLayer to = device.scaled_layer(l);
    cuda::check_cuda(cudaMemcpy(to.bytes.k, from.k, codes, cudaMemcpyDefault), "upload K codes");
    cuda::check_cuda(cudaMemcpy(to.bytes.v, from.v, codes, cudaMemcpyDefault), "upload V codes");
    cuda::check_cuda(cudaMemcpy(to.bytes.k_scale, from.k_scale, scales, cudaMemcpyDefault),
                     "upload K scales");
    cuda::check_cuda(cudaMemcpy(to.bytes.v_scale, from.v_scale, scales, cudaMemcpyDefault),
                     "upload V scales");
  }
  cuda::check_cuda(cudaDeviceSynchronize(), "upload_scaled_cache");
}

inline void download_scaled_cache(const cuda::CudaKvCache& device, cpu::CpuKvCache& host) {
  check_same_scaled_shape(host, device);
  cuda::check_cuda(cudaDeviceSynchronize(), "download_scaled_cache: kernels before download");
  const auto codes = static_cast<size_t>(host.num_slots() * host.slot_floats());
  const auto scales = static_cast<size_t>(host.num_slots() * host.num_kv_heads()) * sizeof(float);
  for (int32_t l = 0; l < host.num_layers(); ++l) {
    const cuda::ScaledKvLayer from = device.scaled_layer(l);
    const cpu::KvLayerStore to = host.store(l);
    cuda::check_cuda(cudaMemcpy(to.k, from.bytes.k, codes, cudaMemcpyDefault), "download K codes");
    cuda::check_cuda(cudaMemcpy(to.v, from.bytes.v, codes, cudaMemcpyDefault), "download V codes");
    cuda::check_cuda(cudaMemcpy(to.k_scale, from.bytes.k_scale, scales, cudaMemcpyDefault),
                     "download K scales");
    cuda::check_cuda(cudaMemcpy(to.v_scale, from.bytes.v_scale, scales, cudaMemcpyDefault),
                     "download V scales");
  }
}

// Every element of `actual` within tol of `expected` (see the header comment). Reports the
// worst element.
inline ::testing::AssertionResult all_close(const float* actual, const float* expected,
                                            int64_t count, double tol) {
  double max_abs = 0.0;
  for (int64_t i = 0; i < count; ++i) max_abs = std::max(max_abs, std::fabs(double{expected[i]}));
  const double floor = 0.1 * max_abs;
  int64_t worst = -1;
  double worst_ratio = 0.0;
  for (int64_t i = 0; i < count; ++i) {
    const double scale = std::max(std::fabs(double{expected[i]}), floor);
    const double err = std::fabs(double{actual[i]} - double{expected[i]});
    const double ratio = scale > 0 ? err / scale : err;
    if (!(ratio <= tol)) {  // NaN fails too
      if (worst < 0 || !(ratio <= worst_ratio)) {
        worst = i;
        worst_ratio = ratio;
      }
    }
  }
  if (worst < 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "element " << worst << " of " << count << ": got " << actual[worst] << ", expected "
         << expected[worst] << " (relative error " << worst_ratio << " > " << tol << ")";
}

inline ::testing::AssertionResult all_close(const cpu::RowMatrix& actual,
                                            const cpu::RowMatrix& expected, double tol) {
  if (actual.rows() != expected.rows() || actual.cols() != expected.cols()) {
    return ::testing::AssertionFailure() << "shapes differ";
  }
  return all_close(actual.data(), expected.data(), actual.size(), tol);
}

}  // namespace kvlab::gpu_testing
