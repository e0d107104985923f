#include "kernels/cpu/kv_quant.h"

#include <Eigen/Core>
#include <array>
#include <cmath>
#include <cstring>

#include "core/errors.h"
#include "kernels/kv_quant_math.h"

namespace kvlab::cpu {

namespace {

// All 256 E4M3 codes as floats (kv_quant::fp8_e4m3_decode), so a read is one lookup.
const std::array<float, 256>& fp8_e4m3_table() {
  static const std::array<float, 256> table = [] {
    std::array<float, 256> t{};
    for (int code = 0; code < 256; ++code) {
      t[static_cast<size_t>(code)] = kv_quant::fp8_e4m3_decode(static_cast<uint8_t>(code));
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

uint8_t fp8_e4m3_from_float(float x) { return kv_quant::fp8_e4m3_encode(x); }

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
      const float s =
          kv_quant::vector_scale(amax_of(x, n), fp8 ? kv_quant::kFp8E4m3Max : kv_quant::kInt8Max);
      *scale = s;
      auto* o = reinterpret_cast<uint8_t*>(out);
      if (!kv_quant::scale_stores_codes(s)) {
        std::memset(o, 0, static_cast<size_t>(n));
        return;
      }
      for (int32_t i = 0; i < n; ++i) {
        const float y = x[i] / s;
        o[i] = fp8 ? kv_quant::fp8_e4m3_encode(y)
                   : static_cast<uint8_t>(kv_quant::int8_encode(y));
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
