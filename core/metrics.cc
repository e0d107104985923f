#include "core/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

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

double percentile(const std::vector<double>& values, double p) {
  Distribution<double> d;
  for (double v : values) d.add(v);
  return d.percentile(p);
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
  batch_sizes.add(static_cast<float>(s.batch_size));
  step_time.add(w);
  batch_time.add(w * s.batch_size);
  running_time.add(w * s.num_running);
  mfu_time.add(w * s.mfu);
  mbu_time.add(w * s.mbu);
  const MemoryBreakdown& m = s.memory;
  const double cap = static_cast<double>(std::max<int64_t>(1, m.capacity));
  memory_time[0].add(w * m.token_states / cap);
  memory_time[1].add(w * m.reserved / cap);
  memory_time[2].add(w * m.internal_frag / cap);
  memory_time[3].add(w * m.external_frag / cap);
  memory_time[4].add(w * m.free / cap);
  memory_time[5].add(w * m.cached / cap);
  vmm_calls += s.vmm_calls;
  vmm_s.add(s.vmm_s);
}

void StepTotals::add(const StepTotals& other) {
  count += other.count;
  batch_sizes.add(other.batch_sizes);
  step_time.add(other.step_time);
  batch_time.add(other.batch_time);
  running_time.add(other.running_time);
  mfu_time.add(other.mfu_time);
  mbu_time.add(other.mbu_time);
  for (size_t i = 0; i < std::size(memory_time); ++i) memory_time[i].add(other.memory_time[i]);
  vmm_calls += other.vmm_calls;
  vmm_s.add(other.vmm_s);
}

SummaryAccumulator::SummaryAccumulator(const MetricOptions& options, int64_t memory_values)
    : options_(options),
      t_(memory_values),
      steps_(memory_values),
      first_arrival_(std::numeric_limits<double>::infinity()) {}

void SummaryAccumulator::add(const RequestRecord& r) {
  RunTotals& t = t_;
  ++t.requests;
  first_arrival_ = std::min(first_arrival_, r.arrival_s);
  t.preemptions += r.num_preemptions;
  t.prompt_tokens += r.prompt_len;
  t.cached_prompt_tokens += std::max(0, r.cached_prompt_tokens);
  t.cached_tokens += r.cached_tokens;
  if (r.outcome == RequestOutcome::kRejected) {
    ++t.rejected;
    return;
  }
  if (r.outcome != RequestOutcome::kFinished) {
    ++t.unfinished;
    return;
  }
  ++t.finished;
  t.generated += r.generated_tokens;
  t.finished_prompt_tokens += r.prompt_len;
  last_finish_ = std::max(last_finish_, r.finish_s);
  const double ttft = r.first_token_s - r.arrival_s;
  const double e2el = r.finish_s - r.arrival_s;
  t.ttft.add(ttft);
  double tpot = 0;
  if (r.output_len > 1) {
    tpot = (r.finish_s - r.first_token_s) / (r.output_len - 1);
    t.tpot.add(tpot);
  }
  t.e2el.add(e2el);
  for (float gap : r.itl_s) t.itl.add(gap);
  if (r.first_scheduled_s >= 0) t.sched_delay.add(r.first_scheduled_s - r.arrival_s);
  if (meets_slos(options_, ttft, tpot, e2el, r.output_len)) ++t.slo_met;
  normalized_.add(e2el / r.output_len);
}

void SummaryAccumulator::add(const StepRecord& s) { steps_.add(s); }

void SummaryAccumulator::add(const StepTotals& steps) { steps_.add(steps); }

Summary SummaryAccumulator::finish(const RunResult& run, int64_t capacity_slots, double wall_s) {
  RunTotals& t = t_;
  t.run = &run;
  t.capacity_slots = capacity_slots;
  t.wall_s = wall_s;
  const double first_arrival = std::isfinite(first_arrival_) ? first_arrival_ : 0.0;
  t.duration_s = std::max(0.0, last_finish_ - first_arrival);
  t.mean_normalized = t.finished > 0 ? normalized_.value() / static_cast<double>(t.finished)
                                     : std::numeric_limits<double>::quiet_NaN();
  t.num_steps = steps_.count;
  t.vmm_calls = steps_.vmm_calls;
  t.vmm_s = steps_.vmm_s.value();
  t.batch_sizes = std::move(steps_.batch_sizes);
  t.step_time = steps_.step_time.value();
  t.batch_time = steps_.batch_time.value();
  t.running_time = steps_.running_time.value();
  t.mfu_time = steps_.mfu_time.value();
  t.mbu_time = steps_.mbu_time.value();
  for (size_t i = 0; i < std::size(t.memory_time); ++i) {
    t.memory_time[i] = steps_.memory_time[i].value();
  }

  Summary s;
  for (const SummarySpec& spec : summary_specs()) s.values.emplace_back(spec.name, spec.value(t));
  // output.percentiles beyond the fixed ones, after them.
  for (double p : options_.percentiles) {
    if (is_fixed_percentile(p)) continue;
    for (const DistributionSpec& d : summary_distributions()) {
      s.set(distribution_percentile_name(d, p), d.percentile(t, p));
    }
  }
  return s;
}

Summary summarize(const RunResult& result, int64_t capacity_slots, double wall_s,
                  const MetricOptions& options) {
  SummaryAccumulator acc(options);
  for (const RequestRecord& r : result.requests) acc.add(r);
  acc.add(result.unrecorded_steps);
  for (const StepRecord& s : result.steps) acc.add(s);
  return acc.finish(result, capacity_slots, wall_s);
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
  OutputDigest digest;
  for (const RequestRecord* r : sorted) digest.add(*r);
  return digest.value();
}

void OutputDigest::mix(uint64_t v) {
  for (int i = 0; i < 8; ++i) {
    hash_ ^= (v >> (8 * i)) & 0xff;
    hash_ *= 1099511628211ULL;
  }
}

void OutputDigest::add(const RequestRecord& r) {
  if (r.outcome != RequestOutcome::kFinished) return;
  check_invariant(r.id > last_id_, "output digest: finished requests out of id order");
  last_id_ = r.id;
  mix(static_cast<uint64_t>(r.id));
  for (const auto& sample : r.token_ids) {
    mix(sample.size());
    for (int32_t t : sample) mix(static_cast<uint32_t>(t));
  }
}

}  // namespace kvlab
