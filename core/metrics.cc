#include "core/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/errors.h"

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
  std::vector<double> ttft, tpot, normalized;
  int64_t finished = 0, rejected = 0, generated = 0, preemptions = 0, unfinished = 0;
  double first_arrival = std::numeric_limits<double>::infinity();
  double last_finish = 0;
  for (const RequestRecord& r : result.requests) {
    first_arrival = std::min(first_arrival, r.arrival_s);
    preemptions += r.num_preemptions;
    if (r.outcome == RequestOutcome::kRejected) {
      ++rejected;
      continue;
    }
    if (r.outcome != RequestOutcome::kFinished) {
      ++unfinished;
      continue;
    }
    ++finished;
    generated += r.generated_tokens;
    last_finish = std::max(last_finish, r.finish_s);
    ttft.push_back(r.first_token_s - r.arrival_s);
    if (r.output_len > 1) tpot.push_back((r.finish_s - r.first_token_s) / (r.output_len - 1));
    normalized.push_back((r.finish_s - r.arrival_s) / r.output_len);
  }
  if (!std::isfinite(first_arrival)) first_arrival = 0;
  const double duration = std::max(0.0, last_finish - first_arrival);

  // Memory fractions and batch size are averaged over time (weighted by step duration), as
  // the vLLM paper's Fig. 2 reports the state of the KV cache over a serving run.
  double total_time = 0, batch_time = 0, running_time = 0;
  double parts[5] = {0, 0, 0, 0, 0};
  for (const StepRecord& s : result.steps) {
    const double w = s.duration_s;
    total_time += w;
    batch_time += w * s.batch_size;
    running_time += w * s.num_running;
    const MemoryBreakdown& m = s.memory;
    const double cap = static_cast<double>(std::max<int64_t>(1, m.capacity));
    parts[0] += w * m.token_states / cap;
    parts[1] += w * m.reserved / cap;
    parts[2] += w * m.internal_frag / cap;
    parts[3] += w * m.external_frag / cap;
    parts[4] += w * m.free / cap;
  }
  auto avg = [&](double x) { return total_time > 0 ? x / total_time : 0.0; };
  const double used = parts[0] + parts[1] + parts[2] + parts[3];
  double mean = 0;
  for (double v : normalized) mean += v;
  mean = normalized.empty() ? std::numeric_limits<double>::quiet_NaN() : mean / normalized.size();

  Summary s;
  s.set("num_requests", static_cast<double>(result.requests.size()));
  s.set("duration_s", duration);
  s.set("throughput_req_s", duration > 0 ? finished / duration : 0.0);
  s.set("throughput_tok_s", duration > 0 ? generated / duration : 0.0);
  s.set("normalized_latency_s_per_tok", mean);
  s.set("ttft_p50_s", percentile(ttft, 50));
  s.set("ttft_p99_s", percentile(ttft, 99));
  s.set("tpot_p50_s", percentile(tpot, 50));
  s.set("tpot_p99_s", percentile(tpot, 99));
  s.set("mean_batch_size", avg(batch_time));
  s.set("kv_capacity_slots", static_cast<double>(capacity_slots));
  s.set("kv_token_states_frac", avg(parts[0]));
  s.set("kv_reserved_frac", avg(parts[1]));
  s.set("kv_internal_frag_frac", avg(parts[2]));
  s.set("kv_external_frag_frac", avg(parts[3]));
  s.set("kv_free_frac", avg(parts[4]));
  s.set("num_preemptions", static_cast<double>(preemptions));
  s.set("num_rejected", static_cast<double>(rejected));
  s.set("wall_s", wall_s);
  // Beyond DESIGN.md's list: what the above needs to be read correctly.
  s.set("num_finished", static_cast<double>(finished));
  s.set("num_unfinished", static_cast<double>(unfinished));
  s.set("num_filtered", static_cast<double>(result.workload.num_filtered()));
  s.set("num_bad_rows_skipped", static_cast<double>(result.workload.bad_rows_skipped));
  s.set("num_dropped_by_format", static_cast<double>(result.workload.num_dropped_by_format()));
  s.set("generated_tokens", static_cast<double>(generated));
  s.set("num_steps", static_cast<double>(result.steps.size()));
  // Share of the KV memory in use (not free) that holds token states: the vLLM paper's
  // "effective memory" figure (96.3% for vLLM, 20.4% for Orca-Max).
  s.set("kv_token_states_of_used_frac", used > 0 ? parts[0] / used : 0.0);
  // Requests (groups) holding memory in the running queue, time-weighted: the vLLM paper's
  // "batched requests" (Fig. 13), which counts running requests whether or not a step
  // processed them (a prefill-only step runs just the new prompts).
  s.set("mean_running_requests", avg(running_time));
  return s;
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
