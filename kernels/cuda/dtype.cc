#include "kernels/cuda/dtype.h"

#include "core/errors.h"

namespace kvlab::cuda {

DType parse_dtype(const std::string& name, const std::string& field) {
  if (name == "fp32") return DType::kF32;
  if (name == "fp16") return DType::kF16;
  if (name == "bf16") return DType::kBF16;
  throw InputError("", 0, field, "'" + name + "' is not one of: fp32, fp16, bf16");
}

const char* dtype_name(DType dtype) {
  switch (dtype) {
    case DType::kF16:
      return "fp16";
    case DType::kBF16:
      return "bf16";
    case DType::kF32:
    default:
      return "fp32";
  }
}

int32_t dtype_bytes(DType dtype) { return dtype == DType::kF32 ? 4 : 2; }

}  // namespace kvlab::cuda
