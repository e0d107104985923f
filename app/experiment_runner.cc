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

// A materialized workload's requests as a RequestSource.
class VectorSource final : public RequestSource {
 public:
  explicit VectorSource(std::shared_ptr<const Workload> w) : workload_(std::move(w)) {}
  bool next(RequestSpec& out) override {
    if (next_ >= workload_->requests.size()) return false;
    out = workload_->requests[next_++];
    return true;
  }
  int64_t max_requests() const override { return static_cast<int64_t>(workload_->requests.size()); }
  const WorkloadReport& report() const override { return workload_->report; }

 private:
  std::shared_ptr<const Workload> workload_;
  size_t next_ = 0;
};

// Another source's requests as a point's back end runs them (request_for_backend).
class BackendSource final : public RequestSource {
 public:
  BackendSource(const ExperimentConfig& config, std::unique_ptr<RequestSource> inner)
      : config_(config), inner_(std::move(inner)) {}
  bool next(RequestSpec& out) override {
    if (!inner_->next(out)) return false;
    request_for_backend(config_, out);
    return true;
  }
  int64_t max_requests() const override { return inner_->max_requests(); }
  const WorkloadReport& report() const override { return inner_->report(); }

 private:
  const ExperimentConfig& config_;
  std::unique_ptr<RequestSource> inner_;
};

// A streamed point's rows on their way to its PointStream: counts its requests and keeps the
// rejected ones (kvlab run names them in a warning).
class CountingSink final : public RecordSink {
 public:
  explicit CountingSink(PointStream& out) : out_(out) {}
  void on_step(const StepRecord& step, const std::vector<std::string>& term_names) override {
    out_.on_step(step, term_names);
  }
  void on_request(RequestRecord&& r) override {
    ++requests;
    if (r.outcome == RequestOutcome::kRejected) {
      rejected.push_back(NeverRuns{r.id, r.trace_line, r.reject_reason});
    }
    out_.on_request(std::move(r));
  }
  int64_t requests = 0;
  std::vector<NeverRuns> rejected;

 private:
  PointStream& out_;
};

// Runs a streamed point (a single replica: prepare_experiment refused others), its rows to
// `stream`.
RunResult run_streamed(const PreparedPoint& p, bool audit, PointStream& stream,
                       const std::function<void(const EngineProgress&)>& progress) {
  const ReplicaSetup& setup = p.cluster.replicas.front();
  ClusterReplica replica{make_engine(setup.config), setup.role, setup.name};
  replica.engine->set_audit_every_step(audit);
  CountingSink sink(stream);
  StreamOptions options;
  options.sink = &sink;
  options.prefix_bound = [&p](int32_t block_size) {
    return unbounded_prefix_reuse(p.request_pass(), block_size);
  };
  const std::unique_ptr<RequestSource> source = p.open_requests();
  RunResult r = replica.engine->run(*source, options, progress);
  r.replicas = {describe_replica(replica, 0, r.summary, sink.requests)};
  r.streamed = true;
  r.streamed_requests = sink.requests;
  r.streamed_rejections = std::move(sink.rejected);
  return r;
}

}  // namespace

void request_for_backend(const ExperimentConfig& config, RequestSpec& r) {
  if (!executors().entry(config.backend.kind).traits.real) return;
  const uint64_t seed = config.workload.seed;
  const uint64_t vocab = static_cast<uint64_t>(std::max(1, config.model.vocab_size));
  const uint64_t stream = splitmix64(seed ^ splitmix64(static_cast<uint64_t>(r.id)));
  if (r.prompt_tokens.empty()) fill_prompt_tokens(r, stream, vocab);
  r.sampling = config.backend.sampling;
  r.sampling.seed = stream;
}

std::vector<RequestSpec> requests_for_backend(const ExperimentConfig& config,
                                              const std::vector<RequestSpec>& requests) {
  std::vector<RequestSpec> out = requests;
  if (!executors().entry(config.backend.kind).traits.real) return out;
  for (RequestSpec& r : out) request_for_backend(config, r);
  return out;
}

std::unique_ptr<RequestSource> PreparedPoint::open_requests() const {
  std::unique_ptr<RequestSource> inner;
  if (streamed) {
    inner = open_workload(config.workload);
  } else {
    inner = std::make_unique<VectorSource>(workload);
  }
  return std::make_unique<BackendSource>(config, std::move(inner));
}

RequestPass PreparedPoint::request_pass() const {
  return [this](const std::function<void(const RequestSpec&)>& visit) {
    const std::unique_ptr<RequestSource> source = open_requests();
    RequestSpec r;
    while (source->next(r)) visit(r);
  };
}

std::vector<PreparedPoint> prepare_experiment(const Config& config, const Shard& shard,
                                              bool allow_streaming) {
  register_builtins();
  std::vector<PreparedPoint> prepared;
  std::map<std::string, std::shared_ptr<const Workload>> workloads;
  std::map<std::string, std::pair<std::shared_ptr<const Workload>, int64_t>> streamed;
  for (SweepPoint& point : expand_sweep(config)) {
    if (!shard.contains(point.index)) continue;
    PreparedPoint p;
    p.config = resolve_experiment(point.config);
    validate_engine_config(p.config);  // policy names and settings fail now, not mid-run
    p.cluster = resolve_cluster(point.config, p.config);
    const std::string key = workload_key(p.config.workload);
    p.streamed = allow_streaming && p.config.stream_results;
    if (p.streamed) {
      if (p.cluster.replicas.size() > 1) {
        point.config.fail("output.stream",
                          "streams one replica's run; this cluster has " +
                              std::to_string(p.cluster.replicas.size()) +
                              " replicas (set output.stream = false)");
      }
      if (p.config.workload.multi_turn) {
        point.config.fail("output.stream",
                          "cannot stream workload.multi_turn conversations (a turn arrives "
                          "after its predecessor ended; set output.stream = false)");
      }
      // Read once, to check it and count it; the run reads it again as it goes.
      auto it = streamed.find(key);
      if (it == streamed.end()) {
        const std::unique_ptr<RequestSource> source = open_workload(p.config.workload);
        auto w = std::make_shared<Workload>();
        RequestSpec r;
        int64_t n = 0;
        while (source->next(r)) ++n;
        w->report = source->report();
        it = streamed.emplace(key, std::make_pair(std::move(w), n)).first;
      }
      p.workload = it->second.first;
      p.num_requests = it->second.second;
    } else {
      auto it = workloads.find(key);
      if (it == workloads.end()) {
        it = workloads
                 .emplace(key, std::make_shared<const Workload>(load_workload(p.config.workload)))
                 .first;
      }
      p.workload = it->second;
      p.num_requests = static_cast<int64_t>(p.workload->requests.size());
    }
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
  const std::vector<PreparedPoint> prepared =
      prepare_experiment(config, options.shard, static_cast<bool>(options.stream));
  if (options.before_run) options.before_run(prepared);

  int64_t requests_total = 0;
  for (const PreparedPoint& p : prepared) requests_total += p.num_requests;

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
        auto on_progress = [&, i](const ClusterProgress& e) {
          if (!options.progress) return;
          std::lock_guard<std::mutex> lock(progress_mutex);
          progress.requests_done += e.done - point_progress[i].done;
          progress.steps += e.steps - point_progress[i].steps;
          point_progress[i] = e;
          progress.engine_time_s = e.now_s;
          options.progress(progress);
        };
        std::unique_ptr<PointStream> stream;
        RunResult r;
        if (p.streamed) {
          stream = options.stream(p);
          r = run_streamed(p, options.audit_every_step, *stream, [&](const EngineProgress& e) {
            on_progress(ClusterProgress{e.done, e.total, e.now_s, e.steps});
          });
        } else {
          const std::unique_ptr<Cluster> cluster =
              make_cluster(p.cluster, p.config, options.audit_every_step);
          r = cluster->run(requests_for_backend(p.config, p.workload->requests), on_progress);
        }
        r.config = p.point.config.resolved();
        r.label = p.point.label;
        r.axes = p.point.axes;
        r.axis_labels = p.point.axis_labels;
        r.point_index = p.point.index;
        r.sweep_size = points_in_sweep;
        r.workload = p.workload->report;
        summarize_workload(r);
        if (stream) stream->finish(r);
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
