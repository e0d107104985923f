#include "kernels/cpu/layer_norm.h"

#include <cmath>

#include "core/errors.h"

namespace kvlab::cpu {

void layer_norm(const MatrixCRef& x, const VectorCRef& weight, const VectorCRef& bias, float eps,
                MatrixRef out) {
  check_invariant(x.cols() == weight.size() && x.cols() == bias.size() && out.rows() == x.rows() &&
                      out.cols() == x.cols(),
                  "layer_norm: shape mismatch");
  const auto w = weight.transpose().array();
  const auto b = bias.transpose().array();
  const auto n = static_cast<double>(x.cols());
  for (Eigen::Index r = 0; r < x.rows(); ++r) {
    // Mean and variance in double, two passes (no cancellation in E[x^2] - E[x]^2): the
    // statistics must not depend on vectorization width more than necessary.
    const auto row = x.row(r).cast<double>();
    const double mean = row.sum() / n;
    const double var = (row.array() - mean).square().sum() / n;
    const float inv_std = static_cast<float>(1.0 / std::sqrt(var + eps));
    const auto mean_f = static_cast<float>(mean);
    out.row(r) = ((x.row(r).array() - mean_f) * inv_std) * w + b;
  }
}

}  // namespace kvlab::cpu
