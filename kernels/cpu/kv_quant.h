// The stored formats of the CPU back end's KV cache (memory.kv_dtype, core/kv_dtype.h): the
// element conversions, the quantization of one (token, KV head) vector with its scale, and
// KvLayerStore, one layer of a cache in whatever format it stores.
//
//  fp32       stored as is (the back end's compute dtype; what auto means here).
//  fp16/bf16  Eigen::half / Eigen::bfloat16, round to nearest even.
//  fp8_e4m3   OCP FP8 E4M3 ("e4m3fn": sign, 4 exponent bits of bias 7, 3 mantissa bits; no
//             infinities; 0x7F / 0xFF are NaN; largest finite 448, smallest subnormal 2^-9).
//             A vector x of head_dim values is stored as e4m3(x / s) with s = amax(|x|) / 448,
//             converted saturating (anything beyond +-448 becomes +-448) and rounding to
//             nearest even; it reads back as e4m3_to_float(q) * s.
//  int8       q = round_half_even(x / s) in [-127, 127] with s = amax(|x|) / 127; reads back
//             as q * s.
// A vector of zeros stores s = 0 and reads back as zeros. A vector holding a NaN or an
// infinity stores s = NaN and reads back as NaN (the error shows instead of hiding).
//
// The element and scale arithmetic is kernels/kv_quant_math.h, shared with the cuda kernels.
//
// Thread safety: the functions are pure; a KvLayerStore is a view (plain pointers).
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/kv_dtype.h"
#include "kernels/kv_cache_view.h"
#include "kernels/kv_quant_math.h"

namespace kvlab::cpu {

inline constexpr float kFp8E4m3Max = kv_quant::kFp8E4m3Max;

// float -> E4M3 bits, saturating, round to nearest even; NaN -> 0x7F with x's sign.
uint8_t fp8_e4m3_from_float(float x);
// E4M3 bits -> float (exact).
float fp8_e4m3_to_float(uint8_t bits);

// The format a CPU cache stores for `dtype`: auto is fp32 (the cpu back end's compute dtype).
KvDtype cpu_kv_storage(KvDtype dtype);

// Stores the n values of `x` in `dtype` (not auto) at `out` (n x element bytes) and, for
// scaled dtypes, the vector's scale at *scale (scale may be null otherwise).
void quantize_kv(KvDtype dtype, const float* x, int32_t n, std::byte* out, float* scale);
// Reads n values stored by quantize_kv back into `out`.
void dequantize_kv(KvDtype dtype, const std::byte* in, const float* scale, int32_t n, float* out);

// One layer of a CPU KV cache: K and V elements [slot][kv_head][head_dim] (element_bytes
// each, slots and heads packed), and for scaled dtypes one float scale per [slot][kv_head]
// of K and of V. A view: the cache (kernels/cpu/kv_cache.h) owns the memory.
struct KvLayerStore {
  KvDtype dtype = KvDtype::kFp32;  // never auto
  std::byte* k = nullptr;
  std::byte* v = nullptr;
  float* k_scale = nullptr;  // null unless kv_dtype_scaled(dtype)
  float* v_scale = nullptr;
  int64_t num_slots = 0;
  int32_t num_kv_heads = 0;
  int32_t head_dim = 0;
  int32_t element_bytes = 4;

  int64_t vector_bytes() const { return static_cast<int64_t>(head_dim) * element_bytes; }
  int64_t vector_index(int64_t slot, int32_t head) const { return slot * num_kv_heads + head; }
  std::byte* k_at(int64_t slot, int32_t head) const { return k + vector_index(slot, head) * vector_bytes(); }
  std::byte* v_at(int64_t slot, int32_t head) const { return v + vector_index(slot, head) * vector_bytes(); }
  float* k_scale_at(int64_t slot, int32_t head) const {
    return k_scale ? k_scale + vector_index(slot, head) : nullptr;
  }
  float* v_scale_at(int64_t slot, int32_t head) const {
    return v_scale ? v_scale + vector_index(slot, head) : nullptr;
  }
  // The same memory as fp32 elements. REQUIRES (checked): dtype == fp32.
  KvArenaView<float> as_fp32() const;
};

}  // namespace kvlab::cpu
