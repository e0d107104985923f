#include "kernels/cpu/kv_quant.h"

#include <Eigen/Core>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/errors.h"

namespace kvlab::cpu {

namespace {

// All 256 E4M3 codes as floats: exponent field 0 is subnormal (m x 2^-9), otherwise
// (1 + m / 8) x 2^(e - 7); S.1111.111 is NaN.
const std::array<float, 256>& fp8_e4m3_table() {
  static const std::array<float, 256> table = [] {
    std::array<float, 256> t{};
    for (int code = 0; code < 256; ++code) {
      const int e = (code >> 3) & 0xF;
      const int m = code & 0x7;
      float value = 0;
      if (e == 0xF && m == 0x7) {
        value = std::numeric_limits<float>::quiet_NaN();
      } else if (e == 0) {
        value = std::ldexp(static_cast<float>(m), -9);
      } else {
        value = std::ldexp(1.0f + static_cast<float>(m) / 8.0f, e - 7);
      }
      t[static_cast<size_t>(code)] = (code & 0x80) ? -value : value;
    }
    return t;
  }();
  return table;
}

float amax_of(const float* x, int32_t n) {
  float amax = 0;
  for (int32_t i = 0; i < n; ++i) {
    const float a = std::fabs(x[i]);
    if (std::isnan(a)) return a;
    amax = std::fmax(amax, a);
  }
  return amax;
}

}  // namespace

uint8_t fp8_e4m3_from_float(float x) {
  const uint8_t sign = std::signbit(x) ? 0x80 : 0x00;
  if (std::isnan(x)) return static_cast<uint8_t>(sign | 0x7F);
  const float a = std::fabs(x);
  // 448 = 1.75 x 2^8 is the largest finite value; anything at or past it (the next step up,
  // 480, would be the NaN code) saturates.
  if (a >= kFp8E4m3Max) return static_cast<uint8_t>(sign | 0x7E);
  if (a < 0x1p-6f) {
    // Subnormal range: multiples of 2^-9. nearbyint rounds half to even (the default
    // rounding mode); 8 x 2^-9 is the smallest normal, whose code is 0x08 as well.
    const auto m = static_cast<int>(std::nearbyint(a * 512.0f));
    return static_cast<uint8_t>(sign | m);
  }
  int exp = 0;
  const float frac = std::frexp(a, &exp);  // a = frac x 2^exp, frac in [0.5, 1)
  int e = exp - 1;                          // a = (2 frac) x 2^e, 2 frac in [1, 2)
  // The mantissa's 3 bits: (2 frac - 1) x 8 in [0, 8), exact in float; round half to even.
  auto m = static_cast<int>(std::nearbyint((2.0f * frac - 1.0f) * 8.0f));
  if (m == 8) {
    m = 0;
    ++e;
  }
  return static_cast<uint8_t>(sign | ((e + 7) << 3) | m);
}

float fp8_e4m3_to_float(uint8_t bits) { return fp8_e4m3_table()[bits]; }

KvDtype cpu_kv_storage(KvDtype dtype) { return dtype == KvDtype::kAuto ? KvDtype::kFp32 : dtype; }

void quantize_kv(KvDtype dtype, const float* x, int32_t n, std::byte* out, float* scale) {
  switch (dtype) {
    case KvDtype::kAuto:
    case KvDtype::kFp32:
      std::memcpy(out, x, static_cast<size_t>(n) * sizeof(float));
      return;
    case KvDtype::kFp16: {
      auto* o = reinterpret_cast<Eigen::half*>(out);
      for (int32_t i = 0; i < n; ++i) o[i] = Eigen::half(x[i]);
      return;
    }
    case KvDtype::kBf16: {
      auto* o = reinterpret_cast<Eigen::bfloat16*>(out);
      for (int32_t i = 0; i < n; ++i) o[i] = Eigen::bfloat16(x[i]);
      return;
    }
    case KvDtype::kFp8E4m3:
    case KvDtype::kInt8: {
      const bool fp8 = dtype == KvDtype::kFp8E4m3;
      const float amax = amax_of(x, n);
      auto* o = reinterpret_cast<uint8_t*>(out);
      if (!std::isfinite(amax) || amax == 0) {
        std::memset(o, 0, static_cast<size_t>(n));
        *scale = amax == 0 ? 0.0f : std::numeric_limits<float>::quiet_NaN();
        return;
      }
      const float s = amax / (fp8 ? kFp8E4m3Max : 127.0f);
      *scale = s;
      for (int32_t i = 0; i < n; ++i) {
        const float y = x[i] / s;
        if (fp8) {
          o[i] = fp8_e4m3_from_float(y);
        } else {
          const float q = std::fmin(127.0f, std::fmax(-127.0f, std::nearbyint(y)));
          o[i] = static_cast<uint8_t>(static_cast<int8_t>(q));
        }
      }
      return;
    }
  }
}

void dequantize_kv(KvDtype dtype, const std::byte* in, const float* scale, int32_t n, float* out) {
  switch (dtype) {
    case KvDtype::kAuto:
    case KvDtype::kFp32:
      std::memcpy(out, in, static_cast<size_t>(n) * sizeof(float));
      return;
    case KvDtype::kFp16: {
      const auto* p = reinterpret_cast<const Eigen::half*>(in);
      for (int32_t i = 0; i < n; ++i) out[i] = static_cast<float>(p[i]);
      return;
    }
    case KvDtype::kBf16: {
      const auto* p = reinterpret_cast<const Eigen::bfloat16*>(in);
      for (int32_t i = 0; i < n; ++i) out[i] = static_cast<float>(p[i]);
      return;
    }
    case KvDtype::kFp8E4m3: {
      const auto* p = reinterpret_cast<const uint8_t*>(in);
      const std::array<float, 256>& table = fp8_e4m3_table();
      const float s = *scale;
      for (int32_t i = 0; i < n; ++i) out[i] = table[p[i]] * s;
      return;
    }
    case KvDtype::kInt8: {
      const auto* p = reinterpret_cast<const int8_t*>(in);
      const float s = *scale;
      for (int32_t i = 0; i < n; ++i) out[i] = static_cast<float>(p[i]) * s;
      return;
    }
  }
}

KvArenaView<float> KvLayerStore::as_fp32() const {
  check_invariant(dtype == KvDtype::kFp32, "KvLayerStore: an fp32 view of a " +
                                               kv_dtype_name(dtype) + " cache");
  const int64_t slot_floats = static_cast<int64_t>(num_kv_heads) * head_dim;
  return KvArenaView<float>{reinterpret_cast<float*>(k), reinterpret_cast<float*>(v), num_slots,
                            num_kv_heads, head_dim, slot_floats, head_dim};
}

}  // namespace kvlab::cpu
