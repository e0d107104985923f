#include "kernels/cpu/activation.h"

#include "core/errors.h"

namespace kvlab::cpu {

void silu_and_mul(const MatrixCRef& gate_up, MatrixRef out) {
  const Eigen::Index d = out.cols();
  check_invariant(gate_up.cols() == 2 * d && gate_up.rows() == out.rows(),
                  "silu_and_mul: shape mismatch");
  const auto gate = gate_up.leftCols(d).array();
  const auto up = gate_up.rightCols(d).array();
  out.array() = gate / (1.0f + (-gate).exp()) * up;
}

void relu(const MatrixCRef& x, MatrixRef out) {
  check_invariant(x.rows() == out.rows() && x.cols() == out.cols(), "relu: shape mismatch");
  out.array() = x.array().max(0.0f);
}

}  // namespace kvlab::cpu
