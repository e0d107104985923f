// Requests that can never run, said loudly: `kvlab run` prints a warning line per point that
// rejected requests (with the count and the first reasons), `kvlab run --check` predicts the
// same lines without running (predict_rejections, core/engine.h), and `--strict` turns them
// into an error (non-zero exit, no result file).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "app/experiment_runner.h"
#include "core/engine.h"
#include "core/metrics.h"

namespace kvlab {

// The first reasons a warning line quotes.
inline constexpr size_t kReasonsShown = 3;

// The rejected requests of a point, from what it predicts or what its run recorded.
struct PointRejections {
  size_t point_index = 0;
  std::string label;
  size_t num_requests = 0;
  std::string source;  // the workload's trace (WorkloadReport::source)
  std::vector<NeverRuns> rejected;
};

// Predicted for a prepared point (predict_rejections over its workload's requests).
PointRejections predicted_rejections(const PreparedPoint& point);

// Recorded by a run (RequestOutcome::kRejected, with its reject_reason).
PointRejections recorded_rejections(const RunResult& result);

// "warning: point 3 (LABEL): 12 of 1455 requests can never run and VERB rejected; first:
// request 7 (FILE:9): REASON; ...", at most kReasonsShown reasons; "" when none is rejected.
// `verb`: "will be" (predicted) or "were" (recorded).
std::string rejection_warning(const PointRejections& p, const std::string& verb);

}  // namespace kvlab
