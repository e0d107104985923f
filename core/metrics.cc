#include "core/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/errors.h"
#include "core/results_schema.h"

namespace kvlab {

double Summary::get(const std::string& name) const {
  for (const auto& [k, v] : values) {
    if (k == name) return v;
  }
  throw InvariantError("summary has no '" + name + "'");
}

void Summary::set(const std::string& name, double value) {
  for (auto& [k, v] : values) {
    if (k == name) {
      v = value;
      return;
    }
  }
  values.emplace_back(name, value);
}

double percentile(std::vector<double> values, double p) {
  std::sort(values.begin(), values.end());
  return sorted_percentile(values, p);
}

namespace {

// Where percentile p of n values lies: between order statistics lo and lo + 1 (clamped), at
// fraction frac.
struct Rank {
  size_t lo = 0;
  size_t hi = 0;
  double frac = 0;
};
Rank rank_of(size_t n, double p) {
  const double rank = p / 100.0 * static_cast<double>(n - 1);
  Rank r;
  r.lo = static_cast<size_t>(std::floor(rank));
  r.hi = std::min(n - 1, r.lo + 1);
  r.frac = rank - static_cast<double>(r.lo);
  return r;
}

// sorted_percentile's value by selection (O(n) rather than a sort): reorders `values`.
double selected_percentile(std::vector<float>& values, double p) {
  if (values.empty()) return std::numeric_limits<double>::quiet_NaN();
  const Rank r = rank_of(values.size(), p);
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(r.lo),
                   values.end());
  const double lo = values[r.lo];
  const double hi =
      r.hi == r.lo
          ? lo
          : *std::min_element(values.begin() + static_cast<std::ptrdiff_t>(r.hi), values.end());
  return lo + (hi - lo) * r.frac;
}

}  // namespace

double sorted_percentile(const std::vector<double>& values, double p) {
  if (values.empty()) return std::numeric_limits<double>::quiet_NaN();
  const Rank r = rank_of(values.size(), p);
  return values[r.lo] + (values[r.hi] - values[r.lo]) * r.frac;
}

double RunTotals::itl_percentile(double p) const {
  for (const auto& [q, v] : itl_percentiles) {
    if (q == p) return v;
  }
  return std::numeric_limits<double>::quiet_NaN();
}

double mean(const std::vector<double>& values) {
  if (values.empty()) return std::numeric_limits<double>::quiet_NaN();
  double sum = 0;
  for (double v : values) sum += v;
  return sum / static_cast<double>(values.size());
}

namespace {

// True when a finished request with these latencies meets every SLO `o` sets (<=, as vLLM).
bool meets_slos(const MetricOptions& o, double ttft, double tpot, double e2el, int32_t output_len) {
  if (o.slo_ttft_s > 0 && ttft > o.slo_ttft_s) return false;
  if (o.slo_tpot_s > 0 && output_len > 1 && tpot > o.slo_tpot_s) return false;
  if (o.slo_e2el_s > 0 && e2el > o.slo_e2el_s) return false;
  return true;
}

}  // namespace

std::string join_axis_labels(const std::vector<std::string>& axis_labels) {
  std::string out;
  for (const std::string& l : axis_labels) out += (out.empty() ? "" : ", ") + l;
  return out;
}

void StepTotals::add(const StepRecord& s) {
  const double w = s.duration_s;
  ++count;
  batch_sizes.push_back(s.batch_size);
  step_time += w;
  batch_time += w * s.batch_size;
  running_time += w * s.num_running;
  mfu_time += w * s.mfu;
  mbu_time += w * s.mbu;
  const MemoryBreakdown& m = s.memory;
  const double cap = static_cast<double>(std::max<int64_t>(1, m.capacity));
  memory_time[0] += w * m.token_states / cap;
  memory_time[1] += w * m.reserved / cap;
  memory_time[2] += w * m.internal_frag / cap;
  memory_time[3] += w * m.external_frag / cap;
  memory_time[4] += w * m.free / cap;
  memory_time[5] += w * m.cached / cap;
  vmm_calls += s.vmm_calls;
  vmm_s += s.vmm_s;
}

void StepTotals::add(const StepTotals& other) {
  count += other.count;
  batch_sizes.insert(batch_sizes.end(), other.batch_sizes.begin(), other.batch_sizes.end());
  step_time += other.step_time;
  batch_time += other.batch_time;
  running_time += other.running_time;
  mfu_time += other.mfu_time;
  mbu_time += other.mbu_time;
  for (size_t i = 0; i < std::size(memory_time); ++i) memory_time[i] += other.memory_time[i];
}

Summary summarize(const RunResult& result, int64_t capacity_slots, double wall_s,
                  const MetricOptions& options) {
  RunTotals t;
  t.run = &result;
  t.capacity_slots = capacity_slots;
  t.wall_s = wall_s;
  std::vector<double> normalized;
  std::vector<float> itl;
  double first_arrival = std::numeric_limits<double>::infinity();
  double last_finish = 0;
  for (const RequestRecord& r : result.requests) {
    first_arrival = std::min(first_arrival, r.arrival_s);
    t.preemptions += r.num_preemptions;
    t.prompt_tokens += r.prompt_len;
    t.cached_prompt_tokens += std::max(0, r.cached_prompt_tokens);
    t.cached_tokens += r.cached_tokens;
    if (r.outcome == RequestOutcome::kRejected) {
      ++t.rejected;
      continue;
    }
    if (r.outcome != RequestOutcome::kFinished) {
      ++t.unfinished;
      continue;
    }
    ++t.finished;
    t.generated += r.generated_tokens;
    t.finished_prompt_tokens += r.prompt_len;
    last_finish = std::max(last_finish, r.finish_s);
    const double ttft = r.first_token_s - r.arrival_s;
    const double e2el = r.finish_s - r.arrival_s;
    t.ttft.push_back(ttft);
    double tpot = 0;
    if (r.output_len > 1) {
      tpot = (r.finish_s - r.first_token_s) / (r.output_len - 1);
      t.tpot.push_back(tpot);
    }
    t.e2el.push_back(e2el);
    itl.insert(itl.end(), r.itl_s.begin(), r.itl_s.end());
    if (r.first_scheduled_s >= 0) t.sched_delay.push_back(r.first_scheduled_s - r.arrival_s);
    if (meets_slos(options, ttft, tpot, e2el, r.output_len)) ++t.slo_met;
    normalized.push_back(e2el / r.output_len);
  }
  if (!std::isfinite(first_arrival)) first_arrival = 0;
  t.duration_s = std::max(0.0, last_finish - first_arrival);

  // Kept steps and the steps run without a record, summed alike.
  StepTotals steps = result.unrecorded_steps;
  for (const StepRecord& s : result.steps) steps.add(s);
  t.num_steps = steps.count;
  t.vmm_calls = steps.vmm_calls;
  t.vmm_s = steps.vmm_s;
  t.batch_sizes.assign(steps.batch_sizes.begin(), steps.batch_sizes.end());
  t.step_time = steps.step_time;
  t.batch_time = steps.batch_time;
  t.running_time = steps.running_time;
  t.mfu_time = steps.mfu_time;
  t.mbu_time = steps.mbu_time;
  std::copy(std::begin(steps.memory_time), std::end(steps.memory_time), t.memory_time);
  double mean = 0;
  for (double v : normalized) mean += v;
  t.mean_normalized =
      normalized.empty() ? std::numeric_limits<double>::quiet_NaN() : mean / normalized.size();

  for (std::vector<double>* v : {&t.ttft, &t.tpot, &t.e2el, &t.sched_delay, &t.batch_sizes}) {
    std::sort(v->begin(), v->end());
  }
  // Millions of gaps in a long run: selected, not sorted.
  double itl_sum = 0;
  for (float v : itl) itl_sum += v;
  t.itl_mean = itl.empty() ? std::numeric_limits<double>::quiet_NaN()
                           : itl_sum / static_cast<double>(itl.size());
  std::vector<double> ps = {50, 90, 99};
  ps.insert(ps.end(), options.percentiles.begin(), options.percentiles.end());
  for (double p : ps) {
    const bool have = std::any_of(t.itl_percentiles.begin(), t.itl_percentiles.end(),
                                  [p](const auto& e) { return e.first == p; });
    if (!have) t.itl_percentiles.emplace_back(p, selected_percentile(itl, p));
  }

  Summary s;
  for (const SummarySpec& spec : summary_specs()) s.values.emplace_back(spec.name, spec.value(t));
  // output.percentiles beyond the fixed ones, after them.
  for (double p : options.percentiles) {
    if (is_fixed_percentile(p)) continue;
    for (const DistributionSpec& d : summary_distributions()) {
      s.set(distribution_percentile_name(d, p), d.percentile(t, p));
    }
  }
  return s;
}

void summarize_workload(RunResult& result) {
  RunTotals t;
  t.run = &result;
  for (const SummarySpec& spec : summary_specs()) {
    if (spec.from_workload) result.summary.set(spec.name, spec.value(t));
  }
}

uint64_t output_digest(const std::vector<RequestRecord>& requests) {
  std::vector<const RequestRecord*> sorted;
  for (const RequestRecord& r : requests) {
    if (r.outcome == RequestOutcome::kFinished) sorted.push_back(&r);
  }
  std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->id < b->id; });
  uint64_t h = 1469598103934665603ULL;
  auto mix = [&h](uint64_t v) {
    for (int i = 0; i < 8; ++i) {
      h ^= (v >> (8 * i)) & 0xff;
      h *= 1099511628211ULL;
    }
  };
  for (const RequestRecord* r : sorted) {
    mix(static_cast<uint64_t>(r->id));
    for (const auto& sample : r->token_ids) {
      mix(sample.size());
      for (int32_t t : sample) mix(static_cast<uint32_t>(t));
    }
  }
  return h;
}

}  // namespace kvlab
