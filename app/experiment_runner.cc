#include "app/experiment_runner.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "app/builtins.h"
#include "core/block_hash.h"
#include "core/engine.h"
#include "core/errors.h"
#include "core/experiment.h"
#include "core/splitmix.h"
#include "core/workload.h"
#include "traces/workload_loader.h"

namespace kvlab {

namespace {

// Workloads are shared between points that read the same trace the same way.
std::string workload_key(const WorkloadConfig& w) {
  return w.trace + "|" + w.format + "|" + w.arrival + "|" + std::to_string(w.rate) + "|" +
         std::to_string(w.burstiness) + "|" + std::to_string(w.time_scale) + "|" +
         std::to_string(w.num_requests) + "|" + std::to_string(w.seed) + "|" + w.prompt_len + "|" +
         w.output_len + "|" + std::to_string(w.max_prompt_len) + "|" +
         std::to_string(w.max_total_len) + "|" + (w.skip_bad_rows ? "skip" : "fail") + "|" +
         w.columns + "|" + w.arrival_unit + "|" +
         std::to_string(w.n) + "|" + std::to_string(w.shared_prefix_len) + "|" +
         std::to_string(w.shared_prefix_groups) + "|" + (w.multi_turn ? "turns" : "rows") + "|" +
         std::to_string(w.think_time_s);
}

// Prompt token ids for a real back end. A named prompt token (RequestSpec::prefix_hashes:
// p < named_len, covered by an entry) gets an id that is a function of its name alone: the
// chain of the request's entries up to p's entry, and p. Requests that agree on those entries
// then hold the same ids there, so the token-id block hashes a real back end caches by
// (core/block_hash.h) find the blocks the simulator's names share. The other tokens are the
// request's own: ids from its stream.
void fill_prompt_tokens(RequestSpec& r, uint64_t stream, uint64_t vocab) {
  const int64_t unit = std::max<int32_t>(1, r.prefix_hash_tokens);
  const int64_t named = std::min<int64_t>(
      {r.named_len, r.prompt_len, static_cast<int64_t>(r.prefix_hashes.size()) * unit});
  r.prompt_tokens.resize(static_cast<size_t>(r.prompt_len));
  uint64_t chain = kRootBlockHash;
  for (int64_t p = 0; p < r.prompt_len; ++p) {
    uint64_t bits;
    if (p < named) {
      if (p % unit == 0) {
        chain = splitmix64_mix(chain ^ splitmix64(r.prefix_hashes[static_cast<size_t>(p / unit)]));
      }
      bits = splitmix64(chain ^ splitmix64(static_cast<uint64_t>(p)));
    } else {
      bits = splitmix64(stream + static_cast<uint64_t>(p));
    }
    r.prompt_tokens[static_cast<size_t>(p)] = static_cast<int32_t>(bits % vocab);
  }
}

}  // namespace

std::vector<RequestSpec> requests_for_backend(const ExperimentConfig& config,
                                              const std::vector<RequestSpec>& requests) {
  std::vector<RequestSpec> out = requests;
  if (!executors().entry(config.backend.kind).traits.real) return out;
  const uint64_t seed = config.workload.seed;
  const uint64_t vocab = static_cast<uint64_t>(std::max(1, config.model.vocab_size));
  for (RequestSpec& r : out) {
    const uint64_t stream = splitmix64(seed ^ splitmix64(static_cast<uint64_t>(r.id)));
    if (r.prompt_tokens.empty()) fill_prompt_tokens(r, stream, vocab);
    r.sampling = config.backend.sampling;
    r.sampling.seed = stream;
  }
  return out;
}

std::vector<PreparedPoint> prepare_experiment(const Config& config, const Shard& shard) {
  register_builtins();
  std::vector<PreparedPoint> prepared;
  std::map<std::string, std::shared_ptr<const Workload>> workloads;
  for (SweepPoint& point : expand_sweep(config)) {
    if (!shard.contains(point.index)) continue;
    PreparedPoint p;
    p.config = resolve_experiment(point.config);
    validate_engine_config(p.config);  // policy names and settings fail now, not mid-run
    p.cluster = resolve_cluster(point.config, p.config);
    const std::string key = workload_key(p.config.workload);
    auto it = workloads.find(key);
    if (it == workloads.end()) {
      it =
          workloads.emplace(key, std::make_shared<const Workload>(load_workload(p.config.workload)))
              .first;
    }
    p.workload = it->second;
    p.point = std::move(point);
    prepared.push_back(std::move(p));
  }
  return prepared;
}

bool any_on_gpu(const std::vector<PreparedPoint>& points) {
  return std::any_of(points.begin(), points.end(), [](const PreparedPoint& p) {
    return executors().entry(p.config.backend.kind).traits.exclusive_device;
  });
}

int effective_jobs(const std::vector<PreparedPoint>& points, int requested) {
  if (any_on_gpu(points)) return 1;
  return std::max(1, std::min<int>(requested, static_cast<int>(points.size())));
}

std::vector<RunResult> run_experiment(const Config& config, const RunOptions& options) {
  const size_t points_in_sweep = sweep_size(config);
  const std::vector<PreparedPoint> prepared = prepare_experiment(config, options.shard);
  if (options.before_run) options.before_run(prepared);

  int64_t requests_total = 0;
  for (const PreparedPoint& p : prepared)
    requests_total += static_cast<int64_t>(p.workload->requests.size());

  std::vector<RunResult> results(prepared.size());
  std::vector<std::exception_ptr> errors(prepared.size());
  std::atomic<size_t> next{0};
  std::mutex progress_mutex;
  RunProgress progress;
  progress.points_total = prepared.size();
  progress.requests_total = requests_total;
  std::vector<ClusterProgress> point_progress(prepared.size());

  auto worker = [&]() {
    for (size_t i = next++; i < prepared.size(); i = next++) {
      try {
        const PreparedPoint& p = prepared[i];
        const std::unique_ptr<Cluster> cluster =
            make_cluster(p.cluster, p.config, options.audit_every_step);
        auto on_progress = [&, i](const ClusterProgress& e) {
          if (!options.progress) return;
          std::lock_guard<std::mutex> lock(progress_mutex);
          progress.requests_done += e.done - point_progress[i].done;
          progress.steps += e.steps - point_progress[i].steps;
          point_progress[i] = e;
          progress.engine_time_s = e.now_s;
          options.progress(progress);
        };
        RunResult r =
            cluster->run(requests_for_backend(p.config, p.workload->requests), on_progress);
        r.config = p.point.config.resolved();
        r.label = p.point.label;
        r.axes = p.point.axes;
        r.axis_labels = p.point.axis_labels;
        r.point_index = p.point.index;
        r.sweep_size = points_in_sweep;
        r.workload = p.workload->report;
        summarize_workload(r);
        results[i] = std::move(r);
      } catch (...) {
        errors[i] = std::current_exception();
      }
      std::lock_guard<std::mutex> lock(progress_mutex);
      ++progress.points_done;
      progress.engine_time_s = 0;
      if (options.progress) options.progress(progress);
    }
  };
  const int jobs = effective_jobs(prepared, options.jobs);
  if (jobs == 1) {
    worker();
  } else {
    std::vector<std::thread> threads;
    for (int t = 0; t < jobs; ++t) threads.emplace_back(worker);
    for (std::thread& t : threads) t.join();
  }
  for (std::exception_ptr& e : errors) {
    if (e) std::rethrow_exception(e);
  }
  return results;
}

}  // namespace kvlab
