// Runs an experiment: every sweep point (or one shard of them), on a pool of threads, each
// point independent of how many threads run (results depend only on the point's config).
// Every point is validated, and its workload loaded, before any runs, so bad input fails
// fast and no result file is written.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "app/cluster_setup.h"
#include "app/results_writer.h"
#include "app/resolve_experiment.h"
#include "core/config.h"
#include "core/experiment.h"
#include "core/metrics.h"
#include "app/sweep.h"
#include "core/workload.h"

namespace kvlab {

struct PreparedPoint;

// Where a run stands, for a progress line: what is done of the shard's points and requests.
struct RunProgress {
  size_t points_done = 0, points_total = 0;
  int64_t requests_done = 0;  // finished or rejected, all points
  int64_t requests_total = 0;
  int64_t steps = 0;          // steps recorded, all points (rows the results file will hold)
  double engine_time_s = 0;   // simulated (engine) time of the point that reported last; 0 at
                              // a point's end
};

struct RunOptions {
  int jobs = 1;                 // threads (>= 1)
  Shard shard;                  // which points to run
  bool audit_every_step = false;
  // Called from worker threads under a lock, every few hundred steps of a point and when a
  // point ends.
  std::function<void(const RunProgress&)> progress;
  // Called once every point is prepared, before any runs (may be empty); it may throw
  // InputError to stop the run (kvlab run --strict, when a request can never run).
  std::function<void(const std::vector<PreparedPoint>&)> before_run;
  // Points that stream (output.stream; prepared with streaming allowed) give their rows, as
  // they come, to the stream this returns for them (from the point's worker thread), and
  // finish it when they end; their RunResult then holds no rows (RunResult::streamed).
  // Without it, every point runs in memory.
  std::function<std::unique_ptr<PointStream>(const PreparedPoint&)> stream;
};

// The requests a point's back end runs: for real back ends (ExecutorTraits::real: cpu, cuda), prompts without token
// ids get deterministic pseudo-random ids in [0, vocab) and every request gets the backend.*
// sampling settings with its own seed. The simulator's requests are returned unchanged.
// Ids of named prompt tokens (prefix_hashes, below named_len) are functions of their names
// (the chain of entries up to the token's, and its position), so requests sharing names share
// ids there; the rest are seeded by workload.seed and the request id, like vLLM's
// random-token benchmarks. Only prompt tokens can be chosen: a multi-turn turn's answer is
// what the model generates, so on a real back end the next turn's prompt repeats the previous
// turn's prompt ids but not its answer (named for the simulator only), and shares only the
// blocks of the previous prompt.
std::vector<RequestSpec> requests_for_backend(const ExperimentConfig& config,
                                              const std::vector<RequestSpec>& requests);
// The same for one request.
void request_for_backend(const ExperimentConfig& config, RequestSpec& request);

// One point of a shard, validated and with its workload loaded, before anything runs.
struct PreparedPoint {
  SweepPoint point;
  ExperimentConfig config;  // the experiment-wide settings ([replica.*] sections not applied)
  ClusterSetup cluster;     // its replicas (one of `config` without [cluster] settings)
  // Shared by points that read the same trace alike. A streamed point's holds no requests
  // (only the report of a full read): it reads them again as it runs (open_requests).
  std::shared_ptr<const Workload> workload;
  bool streamed = false;     // output.stream, where the command allows it
  int64_t num_requests = 0;  // requests the workload gives
  // A fresh reader of the point's requests as its back end runs them (request_for_backend).
  std::unique_ptr<RequestSource> open_requests() const;
  // Every request of the point, as open_requests() gives them (core/block_hash.h).
  RequestPass request_pass() const;
};

// Every point of the shard, in point order, each resolved (resolve_experiment), checked
// (validate_engine_config) and with its workload loaded. Throws InputError naming file, line
// and key for the first bad point. Constructs no executor: checks that need the back end's
// hardware (a cuda device's free memory) happen when the point runs.
// With `allow_streaming` (kvlab run), a point with output.stream is prepared to stream: its
// workload read once to check and count it, not kept; a cluster of several replicas or a
// multi-turn workload with output.stream is an InputError naming the key.
std::vector<PreparedPoint> prepare_experiment(const Config& config, const Shard& shard,
                                              bool allow_streaming = false);

// Whether any point runs on a back end that holds a whole device (ExecutorTraits::
// exclusive_device: cuda).
bool any_on_gpu(const std::vector<PreparedPoint>& points);

// The threads run_experiment uses for `points`: `requested`, at most one per point, and one
// when any point runs on a GPU back end (each cuda executor holds a whole model's weights).
int effective_jobs(const std::vector<PreparedPoint>& points, int requested);

// Returns one RunResult per point this shard runs, in point order. Throws InputError for
// bad config or workloads (before running anything).
std::vector<RunResult> run_experiment(const Config& config, const RunOptions& options);

}  // namespace kvlab
