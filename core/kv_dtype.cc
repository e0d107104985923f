#include "core/kv_dtype.h"

#include <stdexcept>

namespace kvlab {

const std::vector<std::string>& kv_dtype_names() {
  static const std::vector<std::string> names = {"auto", "fp32", "fp16", "bf16", "fp8_e4m3",
                                                 "int8"};
  return names;
}

KvDtype parse_kv_dtype(const std::string& name) {
  const std::vector<std::string>& names = kv_dtype_names();
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == name) return static_cast<KvDtype>(i);
  }
  throw std::invalid_argument("unknown KV dtype '" + name + "'");
}

std::string kv_dtype_name(KvDtype dtype) { return kv_dtype_names().at(static_cast<size_t>(dtype)); }

int32_t kv_element_bytes(KvDtype dtype, int32_t compute_dtype_bytes) {
  switch (dtype) {
    case KvDtype::kAuto: return compute_dtype_bytes;
    case KvDtype::kFp32: return 4;
    case KvDtype::kFp16:
    case KvDtype::kBf16: return 2;
    case KvDtype::kFp8E4m3:
    case KvDtype::kInt8: return 1;
  }
  return compute_dtype_bytes;
}

bool kv_dtype_scaled(KvDtype dtype) { return dtype == KvDtype::kFp8E4m3 || dtype == KvDtype::kInt8; }

}  // namespace kvlab
