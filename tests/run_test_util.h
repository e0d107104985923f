// Helpers for tests that run whole experiments in process (tests/e2e, tests/gpu): one point's
// result, the generated token ids per request, and the checks that a run really exercised
// shared batches, preemption and swapping.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <vector>

#include "core/config.h"
#include "app/experiment_runner.h"
#include "core/metrics.h"

namespace kvlab::e2e {

// The single point `c` describes (one thread).
inline RunResult run_one(const Config& c) {
  auto results = run_experiment(c, RunOptions{});
  EXPECT_EQ(results.size(), 1u);
  return results.front();
}

// request id -> its samples' generated token ids.
using Tokens = std::map<int64_t, std::vector<std::vector<int32_t>>>;

// The generated tokens of every request; each must have finished with all its output tokens.
inline Tokens tokens_of(const RunResult& r) {
  Tokens out;
  for (const RequestRecord& q : r.requests) {
    EXPECT_EQ(q.outcome, RequestOutcome::kFinished)
        << "request " << q.id << ": " << q.reject_reason;
    for (const auto& sample : q.token_ids) {
      EXPECT_EQ(static_cast<int32_t>(sample.size()), q.output_len);
    }
    out[q.id] = q.token_ids;
  }
  return out;
}

// A variant of a run: extra config text, and whether memory pressure must have preempted and
// swapped.
struct EngineVariant {
  const char* name;
  const char* config;
  bool expect_preemption;
  bool expect_swaps;
};

// The run shared its batches, and preempted / swapped when the variant says it must.
inline void expect_exercised(const RunResult& r, const EngineVariant& v) {
  int64_t swaps = 0;
  for (const RequestRecord& q : r.requests) swaps += q.num_swaps;
  if (v.expect_preemption) {
    EXPECT_GT(r.summary.get("num_preemptions"), 0);
  }
  if (v.expect_swaps) {
    EXPECT_GT(swaps, 0);
  }
  EXPECT_GT(r.summary.get("mean_batch_size"), 1.5) << "requests must share batches";
}

}  // namespace kvlab::e2e
