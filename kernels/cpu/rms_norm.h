// RMSNorm (Llama): out = x / sqrt(mean(x^2) + eps) * weight, row by row.
#pragma once

#include "kernels/cpu/tensor.h"

namespace kvlab::cpu {

// REQUIRES: x and out are [n][hidden], weight has hidden entries; out may alias x.
void rms_norm(const MatrixCRef& x, const VectorCRef& weight, float eps, MatrixRef out);

}  // namespace kvlab::cpu
