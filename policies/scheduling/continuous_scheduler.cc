// continuous: iteration-level batching (Orca; vLLM). The batch is re-planned every step, so
// a request joins as soon as memory and the budgets allow and leaves the step it finishes.
//
// Prefill-first (chunk_size = 0, vLLM v0's default):
//   1. if nothing is swapped out, admit waiting groups FCFS (whole prompts);
//   2. if anything was admitted, the step runs those prefills only;
//   3. otherwise every running sequence decodes (preempting LIFO victims while a group
//      cannot get its next slot), then, if nobody was preempted this step, swapped groups
//      come back (oldest swap first) and decode too.
// Chunked prefill (chunk_size > 0, Sarathi-Serve; vLLM v1):
//   1. every running sequence past its prompt decodes (with preemption as above);
//   2. if nobody was preempted, swapped groups come back and decode;
//   3. running sequences still in their prompt get their next chunk;
//   4. if nothing is swapped out, nobody was preempted this step (a victim would otherwise
//      be re-admitted at once) and every running prompt got its chunk, waiting groups are
//      admitted FCFS with a first chunk;
// each chunk at most chunk_size tokens, the step at most max_batched_tokens in all.
#include <limits>
#include <memory>
#include <string>

#include "core/scheduler.h"
#include "policies/scheduling/schedulers.h"
#include "policies/scheduling/rejection_rules.h"
#include "policies/scheduling/scheduling_options.h"
#include "policies/scheduling/step_planner.h"
#include "policies/scheduling/step_update.h"

namespace kvlab {

namespace {

constexpr size_t kNoLimit = std::numeric_limits<size_t>::max();

class ContinuousScheduler : public Scheduler {
 public:
  explicit ContinuousScheduler(const SchedulingOptions& options)
      : options_(options), planner_(options) {}

  std::string name() const override {
    const SchedulerConfig& c = options_.config;
    const std::string prefill =
        options_.chunked() ? "chunk_size=" + std::to_string(options_.chunk_size) : "prefill-first";
    return "continuous(" + prefill + ", max_num_seqs=" + std::to_string(c.max_num_seqs) +
           ", max_batched_tokens=" + std::to_string(c.max_batched_tokens) +
           ", preemption=" + options_.preemption->name() + ", victim=" + options_.victim->name() +
           ")";
  }

  SchedulerOutput schedule(SchedulerQueues& queues, KvCacheManager& kv, double) override {
    SchedulerOutput output;
    planner_.begin(queues, kv, output);
    if (options_.chunked()) {
      schedule_chunked(queues);
    } else {
      schedule_prefill_first(queues);
    }
    return output;
  }

  std::string rejection_reason(const SequenceGroup& group, const KvCacheManager& kv) const override {
    return kvlab::rejection_reason(group, options_, kv);
  }

  StepUpdate update_from_output(const SchedulerOutput& plan, const StepResult& result,
                                SchedulerQueues& queues, KvCacheManager& kv) override {
    return apply_step_result(plan, result, queues, kv);
  }

 private:
  void schedule_prefill_first(SchedulerQueues& queues) {
    if (queues.swapped.empty()) {
      planner_.admit_waiting(kNoLimit);
      if (planner_.has_prefills()) return;  // a prefill step: running groups wait a step
    }
    planner_.schedule_decodes();
    if (!planner_.preempted_any()) planner_.swap_in();
  }

  void schedule_chunked(SchedulerQueues& queues) {
    planner_.schedule_decodes();
    if (planner_.preempted_any()) {
      planner_.continue_prefills();
      return;
    }
    planner_.swap_in();
    const bool prefills_scheduled = planner_.continue_prefills();
    if (queues.swapped.empty() && prefills_scheduled) planner_.admit_waiting(kNoLimit);
  }

  SchedulingOptions options_;
  StepPlanner planner_;
};

std::unique_ptr<Scheduler> make_continuous(const SchedulerConfig& config) {
  return std::make_unique<ContinuousScheduler>(make_scheduling_options(config));
}

}  // namespace

void register_continuous_scheduler(SchedulerRegistry& registry) {
  registry.add({.name = "continuous",
                .factory = make_continuous,
                .description = "iteration-level batching (Orca, vLLM): FCFS, prefill-first or "
                               "chunked prefill (chunk_size), preemption by recompute / swap / "
                               "auto",
                .keys = scheduling_keys()});
}

}  // namespace kvlab
