// LayerNorm (OPT, GPT-2; torch.nn.LayerNorm with elementwise affine), row by row:
//   out = (x - mean(x)) / sqrt(var(x) + eps) * weight + bias
// with the population variance (divide by hidden, as torch does).
#pragma once

#include "kernels/cpu/tensor.h"

namespace kvlab::cpu {

// REQUIRES: x and out are [n][hidden], weight and bias have hidden entries; out may alias x.
void layer_norm(const MatrixCRef& x, const VectorCRef& weight, const VectorCRef& bias, float eps,
                MatrixRef out);

}  // namespace kvlab::cpu
