// RMSNorm, LayerNorm, rotary embedding, SiLU-and-multiply, ReLU, the GEMM and its bias against
// plain-loop references in double precision.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/errors.h"
#include "kernels/cpu/activation.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/layer_norm.h"
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

TEST(LayerNorm, MatchesFormulaWithWeightAndBias) {
  std::mt19937_64 rng(11);
  // An offset mean (+5) so a missing mean subtraction, or one-pass variance cancellation,
  // shows.
  RowMatrix x = random_matrix(6, 41, rng, 3.0f);
  x.array() += 5.0f;
  const Eigen::VectorXf weight = random_matrix(41, 1, rng).col(0);
  const Eigen::VectorXf bias = random_matrix(41, 1, rng, 0.5f).col(0);
  RowMatrix out(6, 41);
  layer_norm(x, weight, bias, 1e-5f, out);
  for (int r = 0; r < 6; ++r) {
    double mean = 0;
    for (int c = 0; c < 41; ++c) mean += x(r, c);
    mean /= 41;
    double var = 0;
    for (int c = 0; c < 41; ++c) var += (x(r, c) - mean) * (x(r, c) - mean);
    var /= 41;  // population variance, as torch.nn.LayerNorm
    const double inv = 1.0 / std::sqrt(var + 1e-5);
    for (int c = 0; c < 41; ++c) {
      EXPECT_NEAR(out(r, c), (x(r, c) - mean) * inv * weight[c] + bias[c], 1e-5);
    }
  }
  // In place gives the same.
  RowMatrix y = x;
  layer_norm(y, weight, bias, 1e-5f, y);
  EXPECT_EQ(y, out);
  // A constant row normalizes to the bias (variance 0: eps keeps it finite).
  RowMatrix flat = RowMatrix::Constant(1, 41, 2.5f), flat_out(1, 41);
  layer_norm(flat, weight, bias, 1e-5f, flat_out);
  EXPECT_LT((flat_out.row(0).transpose() - bias).cwiseAbs().maxCoeff(), 1e-6);
  const Eigen::VectorXf short_bias = Eigen::VectorXf::Zero(40);
  EXPECT_THROW(layer_norm(x, weight, short_bias, 1e-5f, out), InvariantError);
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

TEST(Relu, MatchesFormulaInPlaceAndOnASlice) {
  std::mt19937_64 rng(12);
  const RowMatrix x = random_matrix(4, 23, rng, 2.0f);
  RowMatrix out(4, 23);
  relu(x, out);
  for (int r = 0; r < 4; ++r) {
    for (int c = 0; c < 23; ++c) EXPECT_EQ(out(r, c), x(r, c) > 0 ? x(r, c) : 0.0f);
  }
  RowMatrix y = x;
  relu(y, y);
  EXPECT_EQ(y, out);
  RowMatrix wide = x;
  relu(wide.middleCols(5, 10), wide.middleCols(5, 10));
  EXPECT_EQ(wide.middleCols(5, 10), out.middleCols(5, 10));
  EXPECT_EQ(wide.leftCols(5), x.leftCols(5));
  RowMatrix wrong(4, 22);
  EXPECT_THROW(relu(x, wrong), InvariantError);
}

TEST(Linear, WithBiasMatchesLoops) {
  std::mt19937_64 rng(13);
  const RowMatrix x = random_matrix(5, 29, rng), w = random_matrix(17, 29, rng);
  const Eigen::VectorXf bias = random_matrix(17, 1, rng).col(0);
  RowMatrix out(5, 17);
  linear(x, w, bias, out);
  RowMatrix acc = RowMatrix::Constant(5, 17, 2.0f);
  linear_accumulate(x, w, bias, acc);
  for (int r = 0; r < 5; ++r) {
    for (int o = 0; o < 17; ++o) {
      double dot = 0;
      for (int i = 0; i < 29; ++i) dot += double(x(r, i)) * w(o, i);
      EXPECT_NEAR(out(r, o), dot + bias[o], 1e-4);
      EXPECT_NEAR(acc(r, o), 2.0 + dot + bias[o], 1e-4);
    }
  }
  // add_bias alone, on a column slice: every row gets the same bias, other columns untouched.
  RowMatrix m = RowMatrix::Zero(3, 20);
  add_bias(bias, m.middleCols(2, 17));
  for (int r = 0; r < 3; ++r) {
    EXPECT_EQ(Eigen::VectorXf(m.row(r).segment(2, 17).transpose()), bias);
    EXPECT_EQ(m(r, 0), 0.0f);
    EXPECT_EQ(m(r, 19), 0.0f);
  }
  const Eigen::VectorXf wrong_bias = Eigen::VectorXf::Zero(16);
  EXPECT_THROW(linear(x, w, wrong_bias, out), InvariantError);
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
