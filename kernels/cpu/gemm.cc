#include "kernels/cpu/gemm.h"

#include "core/errors.h"

namespace kvlab::cpu {

namespace {

void check_shapes(const MatrixCRef& x, const MatrixCRef& weight, const MatrixRef& out) {
  check_invariant(
      x.cols() == weight.cols() && out.rows() == x.rows() && out.cols() == weight.rows(),
      "linear: shape mismatch");
}

}  // namespace

void linear(const MatrixCRef& x, const MatrixCRef& weight, MatrixRef out) {
  check_shapes(x, weight, out);
  out.noalias() = x * weight.transpose();
}

void linear_accumulate(const MatrixCRef& x, const MatrixCRef& weight, MatrixRef out) {
  check_shapes(x, weight, out);
  out.noalias() += x * weight.transpose();
}

void add_bias(const VectorCRef& bias, MatrixRef out) {
  check_invariant(bias.size() == out.cols(), "add_bias: shape mismatch");
  out.rowwise() += bias.transpose();
}

void linear(const MatrixCRef& x, const MatrixCRef& weight, const VectorCRef& bias, MatrixRef out) {
  linear(x, weight, out);
  add_bias(bias, out);
}

void linear_accumulate(const MatrixCRef& x, const MatrixCRef& weight, const VectorCRef& bias,
                       MatrixRef out) {
  linear_accumulate(x, weight, out);
  add_bias(bias, out);
}

}  // namespace kvlab::cpu
