// KvDtype: how the KV cache stores K and V (memory.kv_dtype), and the bytes that costs. One
// description, read by the capacity resolution, the cost model's bandwidth and copy terms, the
// step records' swap and copy bytes (all through ModelSpec::kv_bytes_per_slot) and by the real
// back ends' arenas (kernels/cpu/kv_cache.h).
//
//   auto      the back end's compute dtype, as before the key existed: the simulator counts the
//             model's dtype_bytes (2 for the catalog's fp16 models, 4 for the tiny fp32 ones),
//             the cpu back end stores fp32, the cuda back end backend.dtype. The default, so no
//             result changes.
//   fp32, fp16, bf16
//             4, 2, 2 bytes per element; fp16 and bf16 round to nearest even.
//   fp8_e4m3  1 byte per element (OCP FP8 E4M3, "e4m3fn": bias 7, max 448, no infinities),
//             with a scale: each (layer, K or V, token, KV head) vector of head_dim values is
//             divided by amax / 448 before conversion (saturating, round to nearest even).
//   int8      1 byte per element, symmetric: the same vector is divided by amax / 127 and
//             rounded to nearest even into [-127, 127].
//
// Scales (fp8_e4m3 and int8) are one fp32 (kKvScaleBytes) per layer, per K and per V, per
// token, per KV head, stored beside the elements and moved with them: a slot holds
// 2 x layers x kv_heads x (head_dim x element bytes + kKvScaleBytes) bytes. With head_dim 128 the
// scales add 4 / 128 = 3.1% to fp8's bytes, so fp8 holds 2 x 128 / 132 = 1.94x fp16's slots.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace kvlab {

enum class KvDtype { kAuto, kFp32, kFp16, kBf16, kFp8E4m3, kInt8 };

// Bytes of one stored scale (fp32), per (layer, K or V, token, KV head), for scaled dtypes.
inline constexpr int32_t kKvScaleBytes = 4;

// memory.kv_dtype's values, in the order above: auto, fp32, fp16, bf16, fp8_e4m3, int8.
const std::vector<std::string>& kv_dtype_names();
// REQUIRES: `name` is one of kv_dtype_names() (the key's choices are checked before this).
// Throws std::invalid_argument otherwise.
KvDtype parse_kv_dtype(const std::string& name);
std::string kv_dtype_name(KvDtype dtype);

// Bytes of one stored element; auto stores `compute_dtype_bytes`.
int32_t kv_element_bytes(KvDtype dtype, int32_t compute_dtype_bytes);
// Whether each (layer, K/V, token, KV head) vector carries a kKvScaleBytes scale.
bool kv_dtype_scaled(KvDtype dtype);

}  // namespace kvlab
