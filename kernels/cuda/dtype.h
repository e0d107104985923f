// Storage types of the CUDA back end: fp32, fp16 and bf16 activations, weights and KV cache,
// always with fp32 accumulation. Kernels and launchers are templates over the element type
// (float, __half, __nv_bfloat16); code that picks the type at run time (backend.dtype) goes
// through dispatch_dtype.
//
// This header compiles with the host compiler too (cuda_fp16.h and cuda_bf16.h declare the
// types and their host conversions), so host code can hold and convert device values.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <string>
#include <type_traits>

namespace kvlab::cuda {

enum class DType { kF32, kF16, kBF16 };

// "fp32" | "fp16" | "bf16" (backend.dtype's values). Throws InputError naming `field` otherwise.
DType parse_dtype(const std::string& name, const std::string& field = "backend.dtype");
const char* dtype_name(DType dtype);
int32_t dtype_bytes(DType dtype);

template <typename T>
constexpr DType dtype_of() {
  if constexpr (std::is_same_v<T, float>) {
    return DType::kF32;
  } else if constexpr (std::is_same_v<T, __half>) {
    return DType::kF16;
  } else {
    static_assert(std::is_same_v<T, __nv_bfloat16>, "storage types: float, __half, __nv_bfloat16");
    return DType::kBF16;
  }
}

template <typename T>
struct TypeTag {
  using type = T;
};

// Calls fn(TypeTag<T>{}) with T the element type of `dtype`.
template <typename Fn>
decltype(auto) dispatch_dtype(DType dtype, Fn&& fn) {
  switch (dtype) {
    case DType::kF16:
      return fn(TypeTag<__half>{});
    case DType::kBF16:
      return fn(TypeTag<__nv_bfloat16>{});
    case DType::kF32:
    default:
      return fn(TypeTag<float>{});
  }
}

// Host-side conversions (round to nearest even), for uploads and tests.
template <typename T>
T from_float_host(float x) {
  if constexpr (std::is_same_v<T, float>) {
    return x;
  } else if constexpr (std::is_same_v<T, __half>) {
    return __float2half_rn(x);
  } else {
    return __float2bfloat16_rn(x);
  }
}

template <typename T>
float to_float_host(T x) {
  if constexpr (std::is_same_v<T, float>) {
    return x;
  } else if constexpr (std::is_same_v<T, __half>) {
    return __half2float(x);
  } else {
    return __bfloat162float(x);
  }
}

}  // namespace kvlab::cuda
