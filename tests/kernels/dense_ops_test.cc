// RMSNorm, rotary embedding, SiLU-and-multiply and the GEMM against plain-loop references.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/errors.h"
#include "kernels/cpu/activation.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/rms_norm.h"
#include "kernels/cpu/rotary.h"
#include "tests/kernels/kernel_test_util.h"

namespace kvlab::cpu {
namespace {

using testing::random_matrix;

TEST(RmsNorm, MatchesFormula) {
  std::mt19937_64 rng(1);
  const RowMatrix x = random_matrix(5, 37, rng, 3.0f);
  const RowMatrix w = random_matrix(37, 1, rng);
  const Eigen::VectorXf weight = w.col(0);
  RowMatrix out(5, 37);
  rms_norm(x, weight, 1e-5f, out);
  for (int r = 0; r < 5; ++r) {
    double sq = 0;
    for (int c = 0; c < 37; ++c) sq += double(x(r, c)) * x(r, c);
    const double inv = 1.0 / std::sqrt(sq / 37 + 1e-5);
    for (int c = 0; c < 37; ++c) EXPECT_NEAR(out(r, c), x(r, c) * inv * weight[c], 1e-5);
  }
  // In place gives the same.
  RowMatrix y = x;
  rms_norm(y, weight, 1e-5f, y);
  EXPECT_EQ(y, out);
}

// Reference rotate-half written from the Hugging Face formula, per element.
RowMatrix naive_rotary(const RowMatrix& x, int head_dim, const std::vector<int32_t>& pos,
                       double theta) {
  RowMatrix out = x;
  const int half = head_dim / 2;
  for (Eigen::Index r = 0; r < x.rows(); ++r) {
    for (Eigen::Index base = 0; base < x.cols(); base += head_dim) {
      for (int i = 0; i < half; ++i) {
        const double angle = pos[size_t(r)] / std::pow(theta, 2.0 * i / head_dim);
        const double a = x(r, base + i), b = x(r, base + i + half);
        out(r, base + i) = float(a * std::cos(angle) - b * std::sin(angle));
        out(r, base + i + half) = float(b * std::cos(angle) + a * std::sin(angle));
      }
    }
  }
  return out;
}

TEST(Rotary, MatchesRotateHalfFormula) {
  std::mt19937_64 rng(2);
  const std::vector<int32_t> pos = {0, 1, 7, 100, 2047, 4};
  const RowMatrix x = random_matrix(6, 3 * 16, rng);
  RowMatrix y = x;
  apply_rotary(y, 16, pos, 10000.0);
  EXPECT_LT((y - naive_rotary(x, 16, pos, 10000.0)).cwiseAbs().maxCoeff(), 1e-5);
  // Position 0 is the identity.
  EXPECT_EQ(y.row(0), x.row(0));
}

TEST(Rotary, WorksOnAColumnSliceAndOtherTheta) {
  std::mt19937_64 rng(3);
  RowMatrix wide = random_matrix(4, 40, rng);
  const RowMatrix original = wide;
  const std::vector<int32_t> pos = {3, 9, 27, 81};
  apply_rotary(wide.middleCols(8, 24), 8, pos, 500000.0);
  EXPECT_EQ(wide.leftCols(8), original.leftCols(8));
  EXPECT_EQ(wide.rightCols(8), original.rightCols(8));
  const RowMatrix slice = original.middleCols(8, 24);
  EXPECT_LT((wide.middleCols(8, 24) - naive_rotary(slice, 8, pos, 500000.0)).cwiseAbs().maxCoeff(),
            1e-5);
}

TEST(Rotary, DotProductDependsOnlyOnRelativePosition) {
  // The property RoPE exists for: <rope(q, m), rope(k, n)> depends on m - n only.
  std::mt19937_64 rng(4);
  const RowMatrix q = random_matrix(1, 32, rng), k = random_matrix(1, 32, rng);
  auto rotated_dot = [&](int m, int n) {
    RowMatrix a = q, b = k;
    apply_rotary(a, 32, std::vector<int32_t>{m}, 10000.0);
    apply_rotary(b, 32, std::vector<int32_t>{n}, 10000.0);
    return a.row(0).dot(b.row(0));
  };
  EXPECT_NEAR(rotated_dot(10, 3), rotated_dot(107, 100), 1e-4);
  EXPECT_NEAR(rotated_dot(5, 5), q.row(0).dot(k.row(0)), 1e-4);
  EXPECT_GT(std::abs(rotated_dot(10, 3) - rotated_dot(10, 4)), 1e-4);
}

TEST(SiluAndMul, MatchesFormula) {
  std::mt19937_64 rng(5);
  const RowMatrix gate_up = random_matrix(3, 2 * 11, rng, 6.0f);
  RowMatrix out(3, 11);
  silu_and_mul(gate_up, out);
  for (int r = 0; r < 3; ++r) {
    for (int c = 0; c < 11; ++c) {
      const double g = gate_up(r, c), u = gate_up(r, 11 + c);
      EXPECT_NEAR(out(r, c), g / (1 + std::exp(-g)) * u, 1e-5);
    }
  }
}

TEST(Linear, MatchesLoopsAndAccumulates) {
  std::mt19937_64 rng(6);
  const RowMatrix x = random_matrix(7, 33, rng), w = random_matrix(19, 33, rng);
  RowMatrix out(7, 19);
  linear(x, w, out);
  for (int r = 0; r < 7; ++r) {
    for (int o = 0; o < 19; ++o) {
      double acc = 0;
      for (int i = 0; i < 33; ++i) acc += double(x(r, i)) * w(o, i);
      EXPECT_NEAR(out(r, o), acc, 1e-4);
    }
  }
  RowMatrix acc = RowMatrix::Ones(7, 19);
  linear_accumulate(x, w, acc);
  EXPECT_LT((acc - (out + RowMatrix::Ones(7, 19))).cwiseAbs().maxCoeff(), 1e-5);
  RowMatrix wrong(7, 18);
  EXPECT_THROW(linear(x, w, wrong), InvariantError);
}

}  // namespace
}  // namespace kvlab::cpu
