// Engine: the one loop every back end runs.
//
//   while requests remain:
//     admit arrivals up to now
//     plan = scheduler.schedule(queues, kv, now)                  (the policies decide)
//     result = executor.execute(plan, kv)                         (sim cost model | CPU | CUDA)
//     update = scheduler.update_from_output(plan, result, queues, kv)
//                                     (tokens; fork samples; finish and release sequences)
//     executor.copy_within(update.fork_copies)                    (this step, not the next)
//     advance the clock by both; record the step
//
// The Engine owns the clock, the queues' storage, arrivals, rejection bookkeeping, deadlock
// detection and the measurements; it never mutates the KvCacheManager: within a step only
// the Scheduler does (core/scheduler.h), and the Executor reads it.
//
// With a virtual clock (the simulator, and real back ends run offline) time advances by the
// executor's step duration; when nothing can run the clock jumps to the next arrival. Ties
// are broken by request id, so the same input gives the same run. A step that runs nothing
// and changes no queue while requests wait is a deadlock: the Engine throws InvariantError
// rather than hang.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/executor.h"
#include "core/experiment.h"
#include "core/kv_cache_manager.h"
#include "core/metrics.h"
#include "core/scheduler.h"
#include "core/workload.h"

namespace kvlab {

struct EngineProgress {
  int64_t done = 0;        // finished + rejected requests
  int64_t total = 0;
  double now_s = 0;        // engine clock
  int64_t steps = 0;       // steps recorded so far
};

// Where a streaming run (Engine::run over a RequestSource) gives its rows as they come,
// instead of keeping them: memory stays flat however many requests run.
class RecordSink {
 public:
  virtual ~RecordSink() = default;
  // A step as it is recorded (output.record_steps = true only). `term_names` names its terms;
  // the list only grows, and a term first seen now was 0 in every earlier step.
  virtual void on_step(const StepRecord& step, const std::vector<std::string>& term_names) = 0;
  // A request's record, in the order the requests were added, once it and every request added
  // before it ended; those still unfinished when the run stops, at its end.
  virtual void on_request(RequestRecord&& request) = 0;
};

struct StreamOptions {
  RecordSink* sink = nullptr;  // required
  // When the memory manager caches prefixes: the workload's unbounded-reuse bound
  // (core/block_hash.h), asked once at the end (a run that keeps no request cannot compute
  // it; the caller reads the workload again). Empty: the bound is left zero.
  std::function<PrefixReuseBound(int32_t block_size)> prefix_bound;
};

class Engine {
 public:
  // The Engine keeps its own copy of `config`.
  Engine(const ExperimentConfig& config, std::unique_ptr<KvCacheManager> kv,
         std::unique_ptr<Scheduler> scheduler, std::unique_ptr<Executor> executor);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Queues a request. REQUIRES: requests are added in non-decreasing arrival order, before
  // the clock passes their arrival, with distinct ids.
  void add_request(const RequestSpec& spec);

  // One iteration of the loop. Returns false (and does nothing) when every added request is
  // finished or rejected.
  bool step();

  // Adds `requests` (sorted by arrival) and steps until all are done. `progress` (may be
  // empty) is called every few hundred steps.
  RunResult run(const std::vector<RequestSpec>& requests,
                const std::function<void(const EngineProgress&)>& progress = {});

  // Streams a run: adds the requests of `source` as the clock reaches their arrival, gives
  // every step and request to options.sink, and frees each request once given out. Returns
  // the summary, output digest and the manager's totals, with no requests or steps: the same
  // summary run() gives on the same requests (exact sums and percentiles: core/metrics.h).
  // REQUIRES: nothing added yet; ids increasing in arrival order (the loaders' 0, 1, ...);
  // no request follows another (RequestSpec::follows: a turn can arrive after its
  // predecessor was given out, when its end time is no longer kept).
  RunResult run(RequestSource& source, const StreamOptions& options,
                const std::function<void(const EngineProgress&)>& progress = {});

  // The result so far: steps, requests (unfinished ones marked so), summary. Not for a
  // streaming run (run over a RequestSource returns its result).
  RunResult result(double wall_s) const;
  // The same, moving the step records out rather than copying them (the engine keeps none):
  // for a driver done with the engine (core/cluster.h).
  RunResult release_result(double wall_s);

  double now() const;
  const SchedulerQueues& queues() const;
  const SchedulerOutput& last_plan() const;      // the plan of the last step
  const StepRecord& last_step() const;           // REQUIRES: at least one step ran
  const SequenceGroup* group(RequestId id) const;  // null when unknown
  const KvCacheManager& kv() const;
  const ExperimentConfig& config() const;  // as the Engine runs it (capacity probed)

  // For a driver that adds requests as they arrive rather than all at once (core/cluster.h).
  // While arrivals are open, a step that finds nothing it can do, no queue it can change and
  // no added request still to arrive waits for the next add_request (next_step_time() is
  // +inf until then) instead of reporting a deadlock: a later request may change that.
  // Closed by default (run() adds every request first).
  void set_arrivals_open(bool open);
  // When the next step() would start: now() while any request is queued, else the next
  // added request's arrival (never before now()); +inf when every added request is done, or
  // while the engine waits for input (above).
  double next_step_time() const;
  // Added requests not yet finished or rejected.
  int64_t outstanding() const;
  // Called when a request ends (finishes, or is rejected), with the time it ended, from
  // inside step().
  void set_on_end(std::function<void(const SequenceGroup&, double)> on_end);
  // Audit the memory manager after every step (tests; slow).
  void set_audit_every_step(bool on);

 private:
  struct State;
  // result() with the steps `take` holds (null: a copy of the engine's).
  static RunResult make_result(const State& s, double wall_s, std::vector<StepRecord>* take);
  // A result's run-wide values (config, term names, the manager's totals), no rows or summary.
  static RunResult run_totals(const State& s);
  std::unique_ptr<State> state_;
};

// Builds the manager, scheduler and executor that `config` names, from their registries.
// When the KV capacity was derived and the back end has a capacity probe (its registry entry's
// ExecutorTraits, core/executor.h),
// memory.capacity_slots is first replaced by what the probe measures on the device.
// `wrap_executor` (may be empty) receives the back end's executor and returns the one the
// Engine runs: a recording wrapper (sim/calibration.h) sees every step without an Engine hook.
using ExecutorWrapper = std::function<std::unique_ptr<Executor>(std::unique_ptr<Executor>)>;
std::unique_ptr<Engine> make_engine(const ExperimentConfig& config,
                                    const ExecutorWrapper& wrap_executor = {});

// Checks what make_engine would build without building the (possibly expensive) executor:
// the manager and scheduler are created (validating their settings), the back end's name is
// looked up and its config check (ExecutorTraits::check_config) run. Throws InputError naming
// the key.
void validate_engine_config(const ExperimentConfig& config);


// The requests of `requests` that `config`'s scheduler rejects even when the memory manager is
// empty (Scheduler::rejection_reason asked of a freshly built manager), in request order:
// without running anything, what a run would reject as soon as each reached the head of the
// queue. The manager is built with config's memory.capacity_slots (a cuda back end's capacity
// probe, which runs when the point starts, is not consulted). A run can reject more only
// through rules that depend on what happened (a recompute-preempted group whose prefill has
// grown past max_batched_tokens).
std::vector<NeverRuns> predict_rejections(const ExperimentConfig& config,
                                          const std::vector<RequestSpec>& requests);
// The same over requests a caller can only walk (core/block_hash.h; one pass).
std::vector<NeverRuns> predict_rejections(const ExperimentConfig& config,
                                          const RequestPass& requests);

}  // namespace kvlab
