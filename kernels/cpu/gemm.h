// GEMM for linear layers: out = x * weight^T (+ bias), weight in torch's
// [out_features][in_features] layout, bias [out_features] added to every row. Eigen's blocked
// GEMM (single-threaded unless Eigen is built with OpenMP); the bias is a separate pass, as a
// cuBLAS GEMM followed by a bias kernel would do it.
#pragma once

#include "kernels/cpu/tensor.h"

namespace kvlab::cpu {

// REQUIRES: x is [n][in], weight is [out][in], out is [n][out]; out does not alias x.
void linear(const MatrixCRef& x, const MatrixCRef& weight, MatrixRef out);

// out += x * weight^T (a residual add fused into the projection).
void linear_accumulate(const MatrixCRef& x, const MatrixCRef& weight, MatrixRef out);

// out += bias, row by row (each row gets the same bias).
// REQUIRES: bias.size() == out.cols().
void add_bias(const VectorCRef& bias, MatrixRef out);

// out = x * weight^T + bias.
// REQUIRES: as linear; bias has out features entries.
void linear(const MatrixCRef& x, const MatrixCRef& weight, const VectorCRef& bias, MatrixRef out);

// out += x * weight^T + bias (a residual add fused into a projection with bias).
void linear_accumulate(const MatrixCRef& x, const MatrixCRef& weight, const VectorCRef& bias,
                       MatrixRef out);

}  // namespace kvlab::cpu
