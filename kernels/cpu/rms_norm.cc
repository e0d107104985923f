#include "kernels/cpu/rms_norm.h"

#include <cmath>

#include "core/errors.h"

namespace kvlab::cpu {

void rms_norm(const MatrixCRef& x, const VectorCRef& weight, float eps, MatrixRef out) {
  check_invariant(x.cols() == weight.size() && out.rows() == x.rows() && out.cols() == x.cols(),
                  "rms_norm: shape mismatch");
  const auto w = weight.transpose().array();
  for (Eigen::Index r = 0; r < x.rows(); ++r) {
    // Accumulate the mean square in double: hidden sizes reach 8k and the sum must not
    // depend on vectorization width more than necessary.
    const double mean_sq = x.row(r).cast<double>().squaredNorm() / static_cast<double>(x.cols());
    const float inv_rms = static_cast<float>(1.0 / std::sqrt(mean_sq + eps));
    out.row(r) = (x.row(r).array() * inv_rms) * w;
  }
}

}  // namespace kvlab::cpu
