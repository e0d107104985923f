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
  if (values.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::sort(values.begin(), values.end());
  const double rank = p / 100.0 * static_cast<double>(values.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(rank));
  const size_t hi = std::min(values.size() - 1, lo + 1);
  const double frac = rank - static_cast<double>(lo);
  return values[lo] + (values[hi] - values[lo]) * frac;
}

Summary summarize(const RunResult& result, int64_t capacity_slots, double wall_s) {
  RunTotals t;
  t.run = &result;
  t.capacity_slots = capacity_slots;
  t.wall_s = wall_s;
  std::vector<double> normalized;
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
    last_finish = std::max(last_finish, r.finish_s);
    t.ttft.push_back(r.first_token_s - r.arrival_s);
    if (r.output_len > 1) t.tpot.push_back((r.finish_s - r.first_token_s) / (r.output_len - 1));
    normalized.push_back((r.finish_s - r.arrival_s) / r.output_len);
  }
  if (!std::isfinite(first_arrival)) first_arrival = 0;
  t.duration_s = std::max(0.0, last_finish - first_arrival);

  for (const StepRecord& s : result.steps) {
    const double w = s.duration_s;
    t.step_time += w;
    t.batch_time += w * s.batch_size;
    t.running_time += w * s.num_running;
    const MemoryBreakdown& m = s.memory;
    const double cap = static_cast<double>(std::max<int64_t>(1, m.capacity));
    t.memory_time[0] += w * m.token_states / cap;
    t.memory_time[1] += w * m.reserved / cap;
    t.memory_time[2] += w * m.internal_frag / cap;
    t.memory_time[3] += w * m.external_frag / cap;
    t.memory_time[4] += w * m.free / cap;
    t.memory_time[5] += w * m.cached / cap;
  }
  double mean = 0;
  for (double v : normalized) mean += v;
  t.mean_normalized =
      normalized.empty() ? std::numeric_limits<double>::quiet_NaN() : mean / normalized.size();

  Summary s;
  for (const SummarySpec& spec : summary_specs()) s.values.emplace_back(spec.name, spec.value(t));
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
