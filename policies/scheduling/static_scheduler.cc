// static: request-level batching, the pre-Orca baseline (e.g. FasterTransformer). A batch is
// formed only when the previous one is completely done, and runs until its last request
// finishes: requests that finish early leave the batch but their places stay empty, and
// requests that arrive meanwhile wait for the next batch.
//
// Each step:
//   1. if no batch is open (nothing running, swapped or preempted-and-waiting), form one:
//      admit waiting groups FCFS while memory admits them, up to max_num_seqs sequences and
//      max_batched_tokens prompt tokens (the batch's prompts run as one prefill step);
//      within an open batch, only its own members preempted by recompute are re-admitted;
//   2. if anything was admitted, the step runs those prefills only;
//   3. otherwise the batch decodes, preempting like continuous batching when memory runs out
//      (LIFO victim, recompute / swap / auto), and swapped members come back when nobody was
//      preempted this step. No admissions while any member is swapped out.
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

class StaticScheduler : public Scheduler {
 public:
  explicit StaticScheduler(const SchedulingOptions& options)
      : options_(options), planner_(options) {}

  std::string name() const override {
    const SchedulerConfig& c = options_.config;
    return "static(max_num_seqs=" + std::to_string(c.max_num_seqs) +
           ", max_batched_tokens=" + std::to_string(c.max_batched_tokens) +
           ", preemption=" + options_.preemption->name() + ", victim=" + options_.victim->name() +
           ")";
  }

  SchedulerOutput schedule(SchedulerQueues& queues, KvCacheManager& kv, double) override {
    SchedulerOutput output;
    planner_.begin(queues, kv, output);
    if (queues.swapped.empty()) {
      admit(queues);
      if (planner_.has_prefills()) return output;
    }
    planner_.schedule_decodes();
    count_recomputed_members(output);
    if (!planner_.preempted_any()) planner_.swap_in();
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
  // Forms a new batch, or re-admits the open batch's recompute-preempted members (they wait
  // at the front of `waiting`, ahead of every request that arrived during the batch).
  void admit(const SchedulerQueues& queues) {
    const bool batch_open = !queues.running.empty() || members_waiting_ > 0;
    if (!batch_open) {
      planner_.admit_waiting(kNoLimit);
      return;
    }
    members_waiting_ -= planner_.admit_waiting(members_waiting_);
  }

  void count_recomputed_members(const SchedulerOutput& output) {
    for (const Preemption& p : output.preempted) {
      if (p.mode == PreemptionMode::kRecompute) ++members_waiting_;
    }
  }

  SchedulingOptions options_;
  StepPlanner planner_;
  size_t members_waiting_ = 0;  // the open batch's members preempted by recompute, waiting
};

std::unique_ptr<Scheduler> make_static(const SchedulerConfig& config) {
  const SchedulingOptions options = make_scheduling_options(config);
  if (options.chunked()) {
    config.settings.fail("scheduler.chunk_size",
                         "static batching runs each batch's prompts whole; chunked prefill "
                         "(chunk_size " +
                             std::to_string(options.chunk_size) + ") needs batching = continuous");
  }
  return std::make_unique<StaticScheduler>(options);
}

}  // namespace

void register_static_scheduler(SchedulerRegistry& registry) {
  registry.add({.name = "static",
                .factory = make_static,
                .description = "request-level batching (pre-Orca baseline): a batch runs until "
                               "its last request finishes; late arrivals wait for the next batch",
                .keys = scheduling_keys()});
}

}  // namespace kvlab
