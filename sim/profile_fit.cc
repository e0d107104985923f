#include "sim/profile_fit.h"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <limits>

#include "core/cost_model.h"
#include "core/errors.h"
#include "core/metrics.h"
#include "sim/profiled_cost_model.h"

namespace kvlab {

namespace {

ProfileOverhead fit_layout(const ExperimentConfig& config, const OperatorProfile& profile,
                           const std::string& layout) {
  std::vector<const MeasuredStep*> steps;
  for (const MeasuredStep& m : profile.fit_steps) {
    if (m.layout == layout) steps.push_back(&m);
  }
  OperatorProfile unscaled = profile;  // operators alone: scale 1, no glue
  unscaled.overheads = {ProfileOverhead{.layout = layout}};
  const ProfiledCostModel operators(config, unscaled, layout);
  const auto n = static_cast<Eigen::Index>(steps.size());
  // Rows scaled by 1 / m_i: the least-squares fit of the relative error.
  Eigen::MatrixXd a(n, 4);
  Eigen::VectorXd b(n);
  std::vector<double> op_sum(static_cast<size_t>(n)), measured(static_cast<size_t>(n));
  for (Eigen::Index i = 0; i < n; ++i) {
    const MeasuredStep& m = *steps[static_cast<size_t>(i)];
    StepShape shape;
    for (const MeasuredStep::Chunk& c : m.prefills) {
      shape.prefills.push_back({c.start, c.num_tokens, c.samples});
    }
    shape.decode_context_lens = m.decode_context_lens;
    const double o = operators.cost(shape).seconds;
    op_sum[static_cast<size_t>(i)] = o;
    measured[static_cast<size_t>(i)] = m.seconds;
    const double w = 1.0 / m.seconds;
    a(i, 0) = w;
    a(i, 1) = w * static_cast<double>(shape.prefills.size() + shape.decode_context_lens.size());
    a(i, 2) = w * static_cast<double>(shape.num_tokens());
    a(i, 3) = w * o;
    b(i) = m.seconds * w;
  }
  // Unscaled operators and no glue, unless a fit does better.
  Eigen::Vector4d best(0, 0, 0, 1);
  double best_err = (a * best - b).squaredNorm();
  for (int mask = 8; mask < 16; ++mask) {  // the operator scale is always fitted
    std::vector<Eigen::Index> cols;
    for (Eigen::Index c = 0; c < 4; ++c) {
      if (mask & (1 << c)) cols.push_back(c);
    }
    Eigen::MatrixXd sub(n, static_cast<Eigen::Index>(cols.size()));
    for (size_t k = 0; k < cols.size(); ++k) sub.col(static_cast<Eigen::Index>(k)) = a.col(cols[k]);
    const Eigen::VectorXd x = sub.colPivHouseholderQr().solve(b);
    if ((x.array() < 0).any() || !x.allFinite() || x(x.size() - 1) <= 0) continue;
    const double err = (sub * x - b).squaredNorm();
    if (err < best_err) {
      best_err = err;
      best.setZero();
      for (size_t k = 0; k < cols.size(); ++k) best(cols[k]) = x(static_cast<Eigen::Index>(k));
    }
  }
  ProfileOverhead out;
  out.layout = layout;
  out.base_s = best(0);
  out.per_sequence_s = best(1);
  out.per_token_s = best(2);
  out.operator_scale = best(3);
  out.fit_steps = n;
  std::vector<double> rel(static_cast<size_t>(n));
  for (Eigen::Index i = 0; i < n; ++i) {
    const double predicted = (a.row(i) * best)(0) * measured[static_cast<size_t>(i)];
    rel[static_cast<size_t>(i)] =
        std::abs(predicted - measured[static_cast<size_t>(i)]) / measured[static_cast<size_t>(i)];
  }
  out.fit_median_rel_error = percentile(rel, 50);
  return out;
}

}  // namespace

void fit_profile_overhead(const ExperimentConfig& config, OperatorProfile* profile) {
  check_invariant(!profile->fit_steps.empty(), "fit_profile_overhead: no measured steps");
  std::vector<std::string> layouts;
  for (const MeasuredStep& m : profile->fit_steps) {
    if (std::find(layouts.begin(), layouts.end(), m.layout) == layouts.end()) {
      layouts.push_back(m.layout);
    }
  }
  std::vector<ProfileOverhead> fitted;
  for (const std::string& layout : layouts) fitted.push_back(fit_layout(config, *profile, layout));
  profile->overheads = std::move(fitted);
}

}  // namespace kvlab
