// What a run measured: one row per engine step, one row per request, the workload's account
// of dropped rows, and the summary. The file layout and the summary values' names, units and
// formulas are core/results_schema.h (names fixed by DESIGN.md: scripts and notebooks read
// them).
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/block_hash.h"
#include "core/distribution.h"
#include "core/kv_cache_manager.h"
#include "core/metric_options.h"
#include "core/workload.h"

namespace kvlab {

struct StepRecord {
  int32_t replica = 0;        // the cluster replica that ran it (core/cluster.h)
  double time_s = 0;          // when the step started
  double duration_s = 0;
  int32_t batch_size = 0;     // sequences that processed tokens
  int32_t num_prefill_seqs = 0;
  int32_t num_decode_seqs = 0;
  int64_t prefill_tokens = 0;
  int64_t decode_tokens = 0;
  int32_t num_running = 0;    // groups, after scheduling
  int32_t num_waiting = 0;
  int32_t num_swapped = 0;
  MemoryBreakdown memory;     // after scheduling, before the step runs
  int32_t num_preempted_recompute = 0;
  int32_t num_preempted_swap = 0;
  int64_t swap_out_bytes = 0;
  int64_t swap_in_bytes = 0;
  int64_t copy_bytes = 0;     // copy-on-write, and the fork copies run in this step
  // Prefix caching (0 without it): findable blocks after the step, and blocks found cached
  // and evicted during it.
  int64_t cached_blocks = 0;
  int64_t cache_hit_blocks = 0;
  int64_t evicted_blocks = 0;
  // Virtual memory (0 for managers that map no pages): pages mapped and unmapped since the
  // previous step's scheduling, up to this step's (what the step pays for), and the virtual
  // space reserved by ranges in use, in token slots (no physical memory).
  int64_t vmm_pages_mapped = 0;
  int64_t vmm_pages_unmapped = 0;
  int64_t kv_virtual_reserved = 0;
  // Real virtual memory (StepResult::vmm_calls, vmm_s): the mapping calls the back end made
  // this step and their measured seconds (cpu and cuda back ends under memory.policy =
  // virtual; else 0).
  int64_t vmm_calls = 0;
  double vmm_s = 0;
  // Model FLOPs and memory-bandwidth utilization: the step's FLOPs and HBM bytes
  // (core/step_work.h) over duration_s times the catalog's peaks (NaN when the back end's
  // device has none there: Executor::runs_on_catalog_hardware). float: 7 digits are plenty,
  // and the summary's means are computed from these same values the file stores.
  float mfu = 0;
  float mbu = 0;
  // Seconds, indexed like RunResult::term_names: the executor's terms, and "fork_copy" (the
  // time of the step's fork copies) in runs whose manager copies for forks.
  std::vector<double> terms;
};

// The summary's inputs from steps (time-weighted sums, batch sizes), for steps the engine ran
// without keeping their records (output.record_steps = false) and for a summary built as the
// steps run (SummaryAccumulator): the summary is the same whether the step table is written
// or not, and whatever order the steps are added in (exact sums, core/distribution.h).
struct StepTotals {
  StepTotals() = default;
  // Batch sizes beyond `memory_values` go to a temporary file (Distribution).
  explicit StepTotals(int64_t memory_values) : batch_sizes(memory_values) {}
  int64_t count = 0;
  ExactSum step_time, batch_time, running_time, mfu_time, mbu_time;
  ExactSum memory_time[6];  // RunTotals::memory_time's shares
  int64_t vmm_calls = 0;
  ExactSum vmm_s;
  Distribution<float> batch_sizes;  // sequences per step (exact in a float up to 2^24)
  void add(const StepRecord& s);
  void add(const StepTotals& other);  // another replica's
};

enum class RequestOutcome { kFinished = 0, kRejected = 1, kUnfinished = 2 };

struct RequestRecord {
  int64_t id = 0;
  int64_t trace_line = 0;
  double arrival_s = 0;
  double first_scheduled_s = -1;
  double first_token_s = -1;
  double finish_s = -1;
  int32_t prompt_len = 0;
  int32_t output_len = 0;
  int32_t n = 1;
  int64_t generated_tokens = 0;   // over all samples
  int32_t num_preemptions = 0;
  int32_t num_recomputes = 0;
  int32_t num_swaps = 0;
  RequestOutcome outcome = RequestOutcome::kUnfinished;
  std::string reject_reason;
  // Prefix caching: prompt tokens its first admission found cached (-1: never admitted), and
  // tokens found cached over all its admissions (re-admissions after recompute included).
  int32_t cached_prompt_tokens = -1;
  int64_t cached_tokens = 0;
  // Cluster (core/cluster.h): the replica that served it (a disaggregated cluster's decode
  // replica), the prefill replica that computed its prompt (-1: not disaggregated), and the
  // seconds its KV spent moving between them (from the prefill's end to the decode side's
  // arrival, waiting for links included).
  int32_t replica = 0;
  int32_t prefill_replica = -1;
  double kv_transfer_s = 0;
  std::vector<std::vector<int32_t>> token_ids;  // per sample, real back ends only
  // Inter-token latencies: per sample, the gaps between its consecutive tokens (one fewer
  // than its tokens), samples one after another; each gap ends at the step that sampled it.
  std::vector<float> itl_s;
};

struct Summary {
  // (name, value) in summary_specs() order: the JSON keys and HDF5 attributes.
  std::vector<std::pair<std::string, double>> values;
  double get(const std::string& name) const;  // throws InvariantError when absent
  void set(const std::string& name, double value);
};

// One replica of a cluster (core/cluster.h) after a run.
struct ReplicaResult {
  int32_t index = 0;
  std::string name;  // its [replica.NAME] group ("" when the replicas are alike)
  std::string role;  // "mixed", "prefill" or "decode"
  std::string hardware;
  std::string memory_policy;
  int32_t tensor_parallel = 1;
  int64_t capacity_slots = 0;
  int64_t requests = 0;  // routed to it
  Summary summary;       // of its own requests and steps (summarize)
};

// Display labels of a point's sweep axes as one name: joined by ", ".
std::string join_axis_labels(const std::vector<std::string>& axis_labels);

// A request the point's scheduler rejects (or would reject whatever else ran: it can never
// run).
struct NeverRuns {
  int64_t id = 0;
  int64_t source_line = 0;  // RequestSpec::source_line (0: generated)
  std::string reason;
};

struct RunResult {
  size_t point_index = 0;                         // index in the full sweep (its group name)
  size_t sweep_size = 1;                          // points in the full sweep
  std::string label;                              // sweep point label, e.g. "memory.policy=paged"
  std::vector<std::string> axes;                  // sweep axes (SweepPoint::axes)
  std::vector<std::string> axis_labels;           // their display names at this point
  // The axis labels joined by ", " ("Orca (Max), rate=2"; "" without a sweep).
  std::string display_label() const { return join_axis_labels(axis_labels); }
  std::map<std::string, std::string> config;      // resolved config
  std::vector<std::string> term_names;
  std::vector<StepRecord> steps;
  StepTotals unrecorded_steps;  // steps run but not kept in `steps` (output.record_steps = false)
  std::vector<RequestRecord> requests;
  WorkloadReport workload;
  Summary summary;
  uint64_t output_digest = 0;                     // real back ends: hash of generated ids
  int64_t kv_bytes_per_slot = 0;                  // per GPU, in memory.kv_dtype (the Engine's)
  bool has_token_ids = false;
  PrefixCacheStats prefix_cache;   // the manager's prefix cache at the end (enabled or not)
  VirtualMemoryStats virtual_memory;  // the manager's virtual memory at the end (or empty)
  int64_t profile_out_of_range_steps = 0;  // steps the cost model priced off its grid
  PrefixReuseBound prefix_bound;   // what an unbounded cache would reach (when enabled)
  // One per cluster replica (one for a single engine): each one's own summary.
  std::vector<ReplicaResult> replicas;
  // A streamed point (output.stream): its requests and steps went to the results file as the
  // run went, so `requests` and `steps` are empty here; how many requests it ran, and its
  // rejected ones (kvlab run's warning names them).
  bool streamed = false;
  int64_t streamed_requests = 0;
  std::vector<NeverRuns> streamed_rejections;
};

// What summarize() gathers from a run (SummaryAccumulator, in one pass over its requests and
// steps, in any order); every summary value (summary_specs() of core/results_schema.h) is a
// function of it.
struct RunTotals {
  explicit RunTotals(int64_t memory_values = Distribution<double>::kUnlimited)
      : ttft(memory_values),
        tpot(memory_values),
        e2el(memory_values),
        sched_delay(memory_values),
        itl(memory_values),
        batch_sizes(memory_values) {}
  // The run's scalar inputs: workload, prefix_cache, prefix_bound, virtual_memory,
  // kv_bytes_per_slot (its tables are not read: a streamed run keeps none).
  const RunResult* run = nullptr;
  int64_t capacity_slots = 0;
  double wall_s = 0;
  int64_t requests = 0;  // every request added (finished, rejected or unfinished)
  int64_t finished = 0, rejected = 0, unfinished = 0, preemptions = 0;
  int64_t generated = 0;           // tokens of finished requests, all samples
  double duration_s = 0;           // first arrival to last finish
  // Of finished requests: time to first token, time per output token after the first (those
  // with output_len > 1), end-to-end latency (finish - arrival), scheduling delay (first
  // scheduled - arrival), every inter-token gap of their samples (itl_s). Of steps: sequences
  // in the batch.
  Distribution<double> ttft, tpot, e2el, sched_delay;
  Distribution<float> itl, batch_sizes;
  int64_t finished_prompt_tokens = 0;  // prompt tokens of finished requests
  int64_t slo_met = 0;                 // finished requests that meet every SLO set
  double mean_normalized = 0;      // mean (finish - arrival) / output_len; NaN if none finished
  // Step durations, and sums weighted by them: sequences in the batch, running groups, and the
  // memory breakdown's shares of the capacity (token states, reserved, internal fragmentation,
  // external fragmentation, free), as the vLLM paper's Fig. 2 reports the KV cache over a run.
  double step_time = 0, batch_time = 0, running_time = 0, mfu_time = 0, mbu_time = 0;
  double memory_time[6] = {0, 0, 0, 0, 0, 0};  // ... and [5]: the prefix cache's share
  int64_t num_steps = 0;  // steps run, kept or not
  int64_t vmm_calls = 0;  // real mapping calls over the steps, and their seconds
  double vmm_s = 0;
  // Prefix caching, over all requests: prompt tokens and the blocks a cache could serve
  // (block_hash.h's max_cached_blocks), and what first admissions found cached.
  int64_t prompt_tokens = 0, cached_prompt_tokens = 0, cached_tokens = 0;
  // A duration-weighted sum as a time average (0 when no step ran).
  double average(double weighted) const { return step_time > 0 ? weighted / step_time : 0.0; }
};

// Builds a run's summary from its requests and steps added one at a time, in any order, with
// the same result for every order: summarize() adds a RunResult's tables; a streamed run
// (output.stream) adds each row as it ends and keeps none. Distributions keep up to
// `memory_values` values each in memory and spill the rest to temporary files
// (core/distribution.h), so memory stays flat however long the run.
class SummaryAccumulator {
 public:
  explicit SummaryAccumulator(const MetricOptions& options = {},
                              int64_t memory_values = Distribution<double>::kUnlimited);
  void add(const RequestRecord& r);
  void add(const StepRecord& s);
  void add(const StepTotals& steps);  // steps run without a record
  int64_t requests() const { return t_.requests; }
  // The summary of everything added. `run` gives the scalar inputs (RunTotals::run). Once:
  // the step batch sizes move into the summary's totals.
  Summary finish(const RunResult& run, int64_t capacity_slots, double wall_s);

 private:
  MetricOptions options_;
  RunTotals t_;
  StepTotals steps_;
  double first_arrival_;
  double last_finish_ = 0;
  ExactSum normalized_;
};

// Computes the summary of `result` (steps and requests filled). `wall_s` is how long the run
// took on this machine.
Summary summarize(const RunResult& result, int64_t capacity_slots, double wall_s,
                  const MetricOptions& options = {});

// Recomputes the summary values that depend only on result.workload (the runner fills it after
// the engine ran), leaving the others as they are.
void summarize_workload(RunResult& result);

// 64-bit FNV-1a over every finished request's (id, generated ids of each sample) in id order.
uint64_t output_digest(const std::vector<RequestRecord>& requests);

// The same digest of records given one at a time (a streamed run's), finished ones in
// increasing id order (checked: InvariantError).
class OutputDigest {
 public:
  void add(const RequestRecord& r);
  uint64_t value() const { return hash_; }

 private:
  void mix(uint64_t v);
  uint64_t hash_ = 1469598103934665603ULL;
  int64_t last_id_ = std::numeric_limits<int64_t>::min();
};

// p in [0, 100]; linear interpolation between order statistics (numpy's default, as vLLM's
// benchmark_serving uses; Distribution::percentile); NaN for empty input.
double percentile(const std::vector<double>& values, double p);

}  // namespace kvlab
