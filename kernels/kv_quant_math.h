// The arithmetic of the quantized KV formats (memory.kv_dtype fp8_e4m3 and int8,
// core/kv_dtype.h), written once for both back ends: the cpu back end's quantizer
// (kernels/cpu/kv_quant.cc) and the cuda kernels (cache_kernels.cu writes, the attention
// kernels read) call these same host-and-device functions, so a vector quantized on either
// back end is stored as the same bits (tests/gpu/ops_test.cc compares them exactly).
//
//  vector_scale  s = amax / qmax for a (token, KV head) vector of largest magnitude amax
//                (qmax 448 for fp8_e4m3, 127 for int8); 0 for a vector of zeros and NaN when
//                amax is not finite (a NaN or an infinity in the vector). A vector whose scale
//                is 0 or NaN stores zero codes: it reads back as zeros or NaN.
//  element x     stored as encode(x / s) (IEEE division, as the CPU's), read back as
//                decode(code) * s.
//  fp8_e4m3      OCP FP8 E4M3 ("e4m3fn"): saturating (beyond +-448 becomes +-448), round to
//                nearest even, subnormals down to 2^-9, 0x7F / 0xFF NaN.
//  int8          round half to even, clamped to [-127, 127].
//
// Pure functions; nothing here depends on the rounding mode except through round_half_even
// (the default mode, which kvlab never changes).
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "core/host_device.h"

namespace kvlab::kv_quant {

inline constexpr float kFp8E4m3Max = 448.0f;
inline constexpr float kInt8Max = 127.0f;

KVLAB_CUDA_HD uint32_t float_bits(float x) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(x);
#else
  uint32_t bits;
  std::memcpy(&bits, &x, sizeof(bits));
  return bits;
#endif
}

KVLAB_CUDA_HD float float_of_bits(uint32_t bits) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(bits);
#else
  float x;
  std::memcpy(&x, &bits, sizeof(x));
  return x;
#endif
}

KVLAB_CUDA_HD bool is_nan(float x) { return (float_bits(x) & 0x7FFFFFFFu) > 0x7F800000u; }
KVLAB_CUDA_HD bool is_finite(float x) { return (float_bits(x) & 0x7F800000u) != 0x7F800000u; }

KVLAB_CUDA_HD float round_half_even(float x) {
#if defined(__CUDA_ARCH__)
  return rintf(x);
#else
  return std::nearbyint(x);
#endif
}

// The scale of a vector whose largest |element| is `amax` (NaN if any element is NaN), for a
// format whose largest code is `qmax`: 0, NaN or amax / qmax (see the header comment).
KVLAB_CUDA_HD float vector_scale(float amax, float qmax) {
  if (amax == 0.0f) return 0.0f;
  if (!is_finite(amax)) return float_of_bits(0x7FC00000u);
  return amax / qmax;
}

// Whether a vector of scale `s` stores real codes (else zeros): s is finite and not 0.
KVLAB_CUDA_HD bool scale_stores_codes(float s) { return s != 0.0f && is_finite(s); }

// float -> E4M3 bits, saturating, round to nearest even; NaN -> 0x7F with x's sign.
KVLAB_CUDA_HD uint8_t fp8_e4m3_encode(float x) {
  const uint32_t bits = float_bits(x);
  const auto sign = static_cast<uint8_t>((bits >> 24) & 0x80u);
  if (is_nan(x)) return static_cast<uint8_t>(sign | 0x7F);
  const float a = float_of_bits(bits & 0x7FFFFFFFu);
  // 448 = 1.75 x 2^8 is the largest finite value; anything at or past it (the next step up,
  // 480, would be the NaN code) saturates.
  if (a >= kFp8E4m3Max) return static_cast<uint8_t>(sign | 0x7E);
  if (a < 0x1p-6f) {
    // Subnormal range: multiples of 2^-9 (a x 512 is exact); 8 x 2^-9 is the smallest
    // normal, whose code is 0x08 as well.
    const auto m = static_cast<int>(round_half_even(a * 512.0f));
    return static_cast<uint8_t>(sign | m);
  }
  // a is a normal float in [2^-6, 448): a = 1.f x 2^e. The 3 mantissa bits are the top of
  // f: f x 8 = (f's 23 bits) x 2^-20, exact in float; round half to even.
  const uint32_t abits = float_bits(a);
  int e = static_cast<int>(abits >> 23) - 127;
  auto m = static_cast<int>(round_half_even(static_cast<float>(abits & 0x7FFFFFu) * 0x1p-20f));
  if (m == 8) {
    m = 0;
    ++e;
  }
  return static_cast<uint8_t>(sign | ((e + 7) << 3) | m);
}

// E4M3 bits -> float (exact): exponent field 0 is subnormal (m x 2^-9), otherwise
// (1 + m / 8) x 2^(e - 7); S.1111.111 is NaN.
KVLAB_CUDA_HD float fp8_e4m3_decode(uint8_t code) {
  const uint32_t sign = (code & 0x80u) ? 0x80000000u : 0u;
  const uint32_t e = (code >> 3) & 0xFu;
  const uint32_t m = code & 0x7u;
  if (e == 0xFu && m == 0x7u) return float_of_bits(sign | 0x7FC00000u);
  if (e == 0) return float_of_bits(sign | float_bits(static_cast<float>(m) * 0x1p-9f));
  return float_of_bits(sign | ((e - 7u + 127u) << 23) | (m << 20));
}

// y (= x / s, finite) -> int8 code: round half to even, clamped to [-127, 127].
KVLAB_CUDA_HD int8_t int8_encode(float y) {
  float q = round_half_even(y);
  q = q > kInt8Max ? kInt8Max : (q < -kInt8Max ? -kInt8Max : q);
  return static_cast<int8_t>(q);
}

KVLAB_CUDA_HD float int8_decode(int8_t code) { return static_cast<float>(code); }

}  // namespace kvlab::kv_quant
