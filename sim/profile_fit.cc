#include "sim/profile_fit.h"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "core/cost_model.h"
#include "core/errors.h"
#include "core/metrics.h"
#include "sim/profiled_cost_model.h"

namespace kvlab {

namespace {

constexpr int kGlue = 3;  // base, per sequence, per token
// Which scale each fitted class (OperatorClass order) shares. GEMMs, element-wise operators and
// sampling share one: fitted apart, element-wise time (linear in tokens) and sampling time
// (linear in sequences) are near-collinear with the glue's per-token and per-sequence terms,
// and their scales came out at 0.02 and 15 (the cpu profile of 2026-12-06). Prefill and decode
// attention each have their own: on that profile, 0.74-0.80 and 1.05-1.16 against 0.95-1.01
// for the rest, and the fidelity matrix's median step errors dropped by 1-1.4 points against
// one scale for all (docs/reproduction.md § Fidelity).
constexpr int kFitGroup[kNumFittedOperatorClasses] = {0, 0, 1, 2, 0};
constexpr int kGroups = 3;
constexpr int kCols = kGlue + kGroups;

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
  // Rows scaled by 1 / m_i: the least-squares fit of the relative error. Columns: the glue,
  // then one per group of operator classes.
  Eigen::MatrixXd a = Eigen::MatrixXd::Zero(n, kCols);
  Eigen::VectorXd b = Eigen::VectorXd::Ones(n);
  for (Eigen::Index i = 0; i < n; ++i) {
    const MeasuredStep& m = *steps[static_cast<size_t>(i)];
    StepShape shape;
    for (const MeasuredStep::Chunk& c : m.prefills) {
      shape.prefills.push_back({c.start, c.num_tokens, c.samples});
    }
    shape.decode_context_lens = m.decode_context_lens;
    const ProfiledCostModel::OperatorTimes t = operators.operator_times(shape);
    const double w = 1.0 / m.seconds;
    a(i, 0) = w;
    a(i, 1) = w * static_cast<double>(shape.prefills.size() + shape.decode_context_lens.size());
    a(i, 2) = w * static_cast<double>(shape.num_tokens());
    for (int c = 0; c < kNumFittedOperatorClasses; ++c) {
      a(i, kGlue + kFitGroup[c]) += w * t.seconds[c];
    }
  }
  // The groups some step uses: each gets a scale; the others keep 1.
  std::vector<Eigen::Index> used;
  for (Eigen::Index c = kGlue; c < kCols; ++c) {
    if (a.col(c).maxCoeff() > 0) used.push_back(c);
  }
  // Unscaled operators and no glue, unless a fit does better.
  Eigen::VectorXd best = Eigen::VectorXd::Zero(kCols);
  best.tail(kGroups).setOnes();
  double best_err = (a * best - b).squaredNorm();
  for (int mask = 0; mask < (1 << kGlue) && !used.empty(); ++mask) {
    std::vector<Eigen::Index> cols;
    for (Eigen::Index c = 0; c < kGlue; ++c) {
      if (mask & (1 << c)) cols.push_back(c);
    }
    cols.insert(cols.end(), used.begin(), used.end());
    Eigen::MatrixXd sub(n, static_cast<Eigen::Index>(cols.size()));
    for (size_t k = 0; k < cols.size(); ++k) {
      sub.col(static_cast<Eigen::Index>(k)) = a.col(cols[k]);
    }
    const Eigen::VectorXd x = sub.colPivHouseholderQr().solve(b);
    if ((x.array() < 0).any() || !x.allFinite() ||
        (x.tail(static_cast<Eigen::Index>(used.size())).array() <= 0).any()) {
      continue;
    }
    const double err = (sub * x - b).squaredNorm();
    if (err < best_err) {
      best_err = err;
      best.head(kGlue).setZero();
      best.tail(kGroups).setOnes();
      for (size_t k = 0; k < cols.size(); ++k) best(cols[k]) = x(static_cast<Eigen::Index>(k));
    }
  }
  ProfileOverhead out;
  out.layout = layout;
  out.base_s = best(0);
  out.per_sequence_s = best(1);
  out.per_token_s = best(2);
  for (int c = 0; c < kNumFittedOperatorClasses; ++c) {
    out.operator_scale[c] = best(kGlue + kFitGroup[c]);
  }
  out.fit_steps = n;
  // Each row is (predicted / measured); the relative error is its distance from 1.
  std::vector<double> rel(static_cast<size_t>(n));
  for (Eigen::Index i = 0; i < n; ++i) {
    rel[static_cast<size_t>(i)] = std::abs((a.row(i) * best)(0) - 1);
  }
  out.fit_median_rel_error = percentile(rel, 50);
  return out;
}

}  // namespace

void fit_profile_overhead(const ExperimentConfig& config, OperatorProfile* profile) {
  if (profile->fit_steps.empty()) {
    throw InputError(
        "the profile stores no measured whole steps to fit its overhead to (a "
        "profile written before 2026-12-06): take it again with kvlab profile");
  }
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
