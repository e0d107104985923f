// GEMM for linear layers: out = x * weight^T, weight in torch's [out_features][in_features]
// layout. Eigen's blocked GEMM (single-threaded unless Eigen is built with OpenMP).
#pragma once

#include "kernels/cpu/tensor.h"

namespace kvlab::cpu {

// REQUIRES: x is [n][in], weight is [out][in], out is [n][out]; out does not alias x.
void linear(const MatrixCRef& x, const MatrixCRef& weight, MatrixRef out);

// out += x * weight^T (a residual add fused into the projection).
void linear_accumulate(const MatrixCRef& x, const MatrixCRef& weight, MatrixRef out);

}  // namespace kvlab::cpu
