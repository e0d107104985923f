// Eigen types the CPU reference ops are written over. Activations are row-major
// [tokens][features] fp32 matrices (one row per token, like a torch tensor of shape
// [num_tokens, hidden]); weights are row-major [out_features][in_features] (torch's
// nn.Linear layout, so a checkpoint tensor loads without a transpose).
//
// Ops take inputs as MatrixCRef and write into MatrixRef: any row-major float matrix, map or
// block with unit inner stride binds to them without a copy (a column slice of a wider matrix
// included, through its outer stride).
#pragma once

#include <Eigen/Core>

namespace kvlab::cpu {

using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using MatrixCRef = Eigen::Ref<const RowMatrix>;
using MatrixRef = Eigen::Ref<RowMatrix>;
using VectorCRef = Eigen::Ref<const Eigen::VectorXf>;

// A row-major matrix over memory whose rows are `row_stride` elements apart.
using StridedMatrixMap = Eigen::Map<RowMatrix, Eigen::Unaligned, Eigen::OuterStride<>>;
using ConstStridedMatrixMap = Eigen::Map<const RowMatrix, Eigen::Unaligned, Eigen::OuterStride<>>;

}  // namespace kvlab::cpu
