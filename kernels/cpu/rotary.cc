#include "kernels/cpu/rotary.h"

#include <cmath>
#include <vector>

#include "core/errors.h"

namespace kvlab::cpu {

void apply_rotary(MatrixRef x, int32_t head_dim, std::span<const int32_t> positions, double theta) {
  check_invariant(head_dim > 0 && head_dim % 2 == 0 && x.cols() % head_dim == 0 &&
                      static_cast<Eigen::Index>(positions.size()) == x.rows(),
                  "apply_rotary: shape mismatch");
  const int32_t half = head_dim / 2;
  const Eigen::Index num_heads = x.cols() / head_dim;
  std::vector<double> inv_freq(static_cast<size_t>(half));
  for (int32_t i = 0; i < half; ++i) {
    inv_freq[static_cast<size_t>(i)] = std::pow(theta, -2.0 * i / head_dim);
  }
  using RowArray = Eigen::Array<float, 1, Eigen::Dynamic>;
  RowArray cos_a(half), sin_a(half);
  for (Eigen::Index r = 0; r < x.rows(); ++r) {
    for (int32_t i = 0; i < half; ++i) {
      const double angle = positions[static_cast<size_t>(r)] * inv_freq[static_cast<size_t>(i)];
      cos_a[i] = static_cast<float>(std::cos(angle));
      sin_a[i] = static_cast<float>(std::sin(angle));
    }
    for (Eigen::Index h = 0; h < num_heads; ++h) {
      auto lo = x.row(r).segment(h * head_dim, half).array();
      auto hi = x.row(r).segment(h * head_dim + half, half).array();
      const RowArray x_lo = lo;
      lo = x_lo * cos_a - hi * sin_a;
      hi = hi * cos_a + x_lo * sin_a;
    }
  }
}

}  // namespace kvlab::cpu
