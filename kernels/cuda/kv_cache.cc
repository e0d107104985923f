#include "kernels/cuda/kv_cache.h"

#include <string>

#include "kernels/cuda/cuda_check.h"

namespace kvlab::cuda {

namespace {

constexpr int64_t kScaleAlignment = 256;

KvDtype stored_as(DType dtype, KvDtype storage) {
  const KvDtype compute = parse_kv_dtype(dtype_name(dtype));
  if (storage == KvDtype::kAuto) return compute;
  check_invariant(storage == compute || kv_dtype_scaled(storage),
                  "CudaKvCache: a " + std::string(dtype_name(dtype)) + " cache cannot store " +
                      kv_dtype_name(storage) + " (" + dtype_name(dtype) +
                      ", fp8_e4m3 or int8)");
  return storage;
}

}  // namespace

CudaKvCache::CudaKvCache(int32_t num_layers, int64_t num_slots, int32_t num_kv_heads,
                         int32_t head_dim, DType dtype, Memory memory, KvDtype storage)
    : num_layers_(num_layers),
      num_slots_(num_slots),
      num_kv_heads_(num_kv_heads),
      head_dim_(head_dim),
      dtype_(dtype),
      storage_(stored_as(dtype, storage)),
      memory_(memory) {
  check_invariant(num_layers >= 0 && num_slots >= 0 && num_kv_heads >= 0 && head_dim >= 0,
                  "CudaKvCache: negative size");
  const auto bytes = static_cast<size_t>(total_bytes());
  if (bytes == 0) return;
  if (memory == Memory::kDevice) {
    device_.reserve(bytes);
    base_ = device_.data();
    check_cuda(cudaMemset(base_, 0, bytes), "CudaKvCache: cudaMemset");
    // cudaMemset may return before it is done; streams created later must not race it.
    check_cuda(cudaDeviceSynchronize(), "CudaKvCache: cudaMemset");
  } else {
    host_ = LazyPinnedMemory(bytes);
    base_ = host_.data();
  }
}

CudaKvCache::CudaKvCache(Borrowed, void* base, int32_t num_layers, int64_t num_slots,
                         int32_t num_kv_heads, int32_t head_dim, DType dtype)
    : num_layers_(num_layers),
      num_slots_(num_slots),
      num_kv_heads_(num_kv_heads),
      head_dim_(head_dim),
      dtype_(dtype),
      memory_(Memory::kDevice),
      base_(base) {
  check_invariant(num_layers >= 0 && num_slots >= 0 && num_kv_heads >= 0 && head_dim >= 0,
                  "CudaKvCache: negative size");
}

CudaKvCache CudaKvCache::borrowing(void* base, int32_t num_layers, int64_t num_slots,
                                   int32_t num_kv_heads, int32_t head_dim, DType dtype) {
  return CudaKvCache(Borrowed{}, base, num_layers, num_slots, num_kv_heads, head_dim, dtype);
}

int64_t CudaKvCache::scale_layer_bytes() const {
  return scaled() ? num_slots_ * num_kv_heads_ * kKvScaleBytes : 0;
}

int64_t CudaKvCache::scales_offset() const {
  const int64_t elements = 2 * int64_t{num_layers_} * layer_bytes();
  return (elements + kScaleAlignment - 1) / kScaleAlignment * kScaleAlignment;
}

int64_t CudaKvCache::total_bytes() const {
  if (!scaled()) return 2 * int64_t{num_layers_} * layer_bytes();
  return scales_offset() + 2 * int64_t{num_layers_} * scale_layer_bytes();
}

int64_t CudaKvCache::bytes_per_slot() const {
  const int64_t per_vector =
      int64_t{head_dim_} * element_bytes() + (scaled() ? kKvScaleBytes : 0);
  return 2 * int64_t{num_layers_} * num_kv_heads_ * per_vector;
}

std::vector<CudaKvCache::Plane> CudaKvCache::planes() const {
  std::vector<Plane> out = {Plane{k_base(), v_base(), slot_bytes(), layer_bytes()}};
  if (scaled()) {
    char* k_scales = static_cast<char*>(base_) + scales_offset();
    out.push_back(Plane{k_scales, k_scales + int64_t{num_layers_} * scale_layer_bytes(),
                        int64_t{num_kv_heads_} * kKvScaleBytes, scale_layer_bytes()});
  }
  return out;
}

ScaledKvLayer CudaKvCache::scaled_layer(int32_t layer) const {
  check_invariant(scaled(), "CudaKvCache: scaled_layer of a " + kv_dtype_name(storage()) + " cache");
  check_invariant(layer >= 0 && layer < num_layers_,
                  "CudaKvCache: layer " + std::to_string(layer) + " out of range");
  const std::vector<Plane> p = planes();
  const int64_t codes = int64_t{layer} * layer_bytes();
  const int64_t scales = int64_t{layer} * scale_layer_bytes();
  ScaledKvLayer out;
  out.format =
      storage_ == KvDtype::kFp8E4m3 ? ScaledKvFormat::kFp8E4m3 : ScaledKvFormat::kInt8;
  out.bytes.k = static_cast<uint8_t*>(p[0].k_base) + codes;
  out.bytes.v = static_cast<uint8_t*>(p[0].v_base) + codes;
  out.bytes.k_scale = reinterpret_cast<float*>(static_cast<char*>(p[1].k_base) + scales);
  out.bytes.v_scale = reinterpret_cast<float*>(static_cast<char*>(p[1].v_base) + scales);
  out.bytes.num_slots = num_slots_;
  out.bytes.num_kv_heads = num_kv_heads_;
  out.bytes.head_dim = head_dim_;
  return out;
}

void CudaKvCache::pin_slots(int64_t first_slot, int64_t num_slots) {
  check_invariant(first_slot >= 0 && num_slots >= 0 && first_slot + num_slots <= num_slots_,
                  "CudaKvCache: pin_slots past the cache");
  if (memory_ != Memory::kPinnedHost || num_slots == 0) return;
  for (const Plane& plane : planes()) {
    const auto bytes = static_cast<size_t>(num_slots * plane.slot_bytes);
    for (int32_t layer = 0; layer < num_layers_; ++layer) {
      const int64_t at = int64_t{layer} * plane.layer_bytes + first_slot * plane.slot_bytes;
      for (void* base : {plane.k_base, plane.v_base}) {
        host_.pin(static_cast<size_t>(static_cast<char*>(base) - static_cast<char*>(base_) + at),
                  bytes);
      }
    }
  }
}

}  // namespace kvlab::cuda
