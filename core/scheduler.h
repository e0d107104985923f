// Scheduler: decides, once per engine step, which sequences run and how memory pressure is
// resolved. It reads and reorders the Engine's queues, asks the KvCacheManager (which only
// answers and carries out allocations), and returns a SchedulerOutput: plain data that the
// Executor runs and the Engine records. After the Executor ran the step, the Engine hands the
// StepResult back through update_from_output (vLLM v1's Scheduler.update_from_output), and the
// scheduler applies it: tokens, forks, finished sequences. It never executes anything and
// never knows which back end (simulator, CPU, CUDA) runs the step.
//
// One owner of the manager per step: schedule() and update_from_output() are the only calls
// in a step that mutate the KvCacheManager; the Engine and the Executor see it const.
//
// Contract for implementations:
//  - a group is in exactly one of the queues (or none, once finished or rejected); its
//    status and its sequences' statuses match the queue;
//  - everything in the output holds device memory for every token it will process;
//  - preemption is all-or-nothing per group: recompute releases all its memory and puts it at
//    the front of `waiting` with num_computed = 0; swap moves all of it to the host pool and
//    appends it to `swapped`;
//  - a group that can never run is removed from `waiting` and listed in `rejected` with a
//    reason, never left waiting.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/kv_cache_manager.h"
#include "core/registry.h"
#include "core/request.h"
#include "core/step_result.h"

namespace kvlab {

// What a scheduler is created from: the batch limits every scheduler and back end shares
// (resolved by the application) and `settings`, the experiment's config, from which a
// scheduler reads the keys its registry entry declares (scheduler.chunk_size,
// scheduler.preemption, ...).
struct SchedulerConfig {
  std::string batching = "continuous";  // registry name (scheduler.batching)
  int32_t max_num_seqs = 256;           // sequences in one batch
  int64_t max_batched_tokens = 4096;    // tokens processed in one step
  int32_t max_seq_len = 2048;           // requests with prompt + output above are rejected
  Config settings;                      // the scheduler's own keys (defaults when not set)
};

enum class PreemptionMode { kRecompute, kSwap };
const char* to_string(PreemptionMode m);

// The Engine's queues. Schedulers reorder and move groups between them.
struct SchedulerQueues {
  std::deque<SequenceGroup*> waiting;   // FCFS: arrival order, recompute-preempted at front
  std::deque<SequenceGroup*> running;   // admission order
  std::deque<SequenceGroup*> swapped;   // swap-out order
};

// Tokens [start, start + num_tokens) of `seq` are processed this step. `samples` is true when
// the chunk reaches the end of the sequence's tokens, so a new token is sampled after it.
struct PrefillChunk {
  Sequence* seq = nullptr;
  int32_t start = 0;
  int32_t num_tokens = 0;
  bool samples = false;
};

struct Preemption {
  SequenceGroup* group = nullptr;
  PreemptionMode mode = PreemptionMode::kRecompute;
};

struct Rejection {
  SequenceGroup* group = nullptr;
  std::string reason;
};

// One step's plan. An Executor carries out the memory movements in this order, then runs the
// batch: swap_out, swap_in, copies (copy-on-write), compute. Fork copies are not part of the
// plan: samples fork after the step ran (update_from_output), and the Engine has the Executor
// carry out their copies at once, in the same step (Executor::copy_within), so they precede
// everything the next plan moves.
struct SchedulerOutput {
  std::vector<PrefillChunk> prefills;
  std::vector<Sequence*> decodes;        // each processes its one pending token
  std::vector<Preemption> preempted;
  std::vector<Rejection> rejected;
  std::vector<KvCopy> swap_out;          // device -> host
  std::vector<KvCopy> swap_in;           // host -> device
  std::vector<KvCopy> copies;            // device -> device (copy-on-write)
  int64_t num_prefill_tokens = 0;
  int64_t num_decode_tokens = 0;

  int64_t num_batched_tokens() const { return num_prefill_tokens + num_decode_tokens; }
  int32_t batch_size() const {
    return static_cast<int32_t>(prefills.size() + decodes.size());
  }
  bool has_work() const { return !prefills.empty() || !decodes.empty(); }
  void clear();
};

// What update_from_output changed that the Engine records or carries out.
struct StepUpdate {
  // Groups whose last unfinished sequence finished this step, in `running` order. They have
  // left `running`, their status is kFinished and they hold no memory.
  std::vector<SequenceGroup*> finished;
  // Device-to-device copies the step's forks need, where the policy cannot share a parent's
  // KV (contiguous: the prompt copied into each sample's region). They must be carried out
  // before the next step is planned; the forked samples' first decodes read them.
  std::vector<KvCopy> fork_copies;
};

class Scheduler {
 public:
  virtual ~Scheduler() = default;
  virtual std::string name() const = 0;

  // Plans one step at time `now_s`. Mutates `queues` and `kv` as described above.
  virtual SchedulerOutput schedule(SchedulerQueues& queues, KvCacheManager& kv,
                                   double now_s) = 0;

  // Applies the executed step `plan` whose executor returned `result`:
  //  - every planned sequence's num_computed advances by the tokens it processed;
  //  - every sampling entry appends its tokens (result.token_ids in the order of
  //    core/sampling_rows.h; when the back end returns no ids, only the counts advance);
  //  - a chunk that starts a group's samples (starts_samples) forks its n - 1 other samples
  //    (SequenceGroup::add_child, kv.fork; their copies are returned in fork_copies); a child
  //    that is done with its first token never holds memory;
  //  - a sequence that reached spec.output_len finishes and kv.release frees its slots;
  //  - a group with no unfinished sequence leaves `running` with status kFinished.
  // Measurements (first_token_s, finish_s) stay with the Engine.
  // REQUIRES: `plan` is this scheduler's last schedule() output on `queues` and `kv`, executed
  // once, and nothing changed them since. Throws InvariantError when `result` holds too few or
  // too many ids or the plan breaks the sequences' invariants.
  virtual StepUpdate update_from_output(const SchedulerOutput& plan, const StepResult& result,
                                        SchedulerQueues& queues, KvCacheManager& kv) = 0;

  // Why schedule() would reject `group` (a waiting group, nothing computed) at the head of the
  // queue with the manager `kv`, or "" when it would not: the rule schedule() applies, as a
  // question, so a run can be checked before it starts (`kvlab run --check`, predict_rejections
  // in core/engine.h). Asked of an empty manager it names the requests that can never run.
  // The default: the manager's kNever (can_admit), which every scheduler must respect.
  virtual std::string rejection_reason(const SequenceGroup& group, const KvCacheManager& kv) const;
};

// "memory manager NAME can never hold it (prompt P + output O tokens, n = N, capacity C slots)".
std::string never_fits_reason(const SequenceGroup& group, const KvCacheManager& kv);

using SchedulerRegistry = Registry<Scheduler, SchedulerConfig>;
// The process-wide registry of schedulers (filled by app/builtins.cc).
SchedulerRegistry& schedulers();

}  // namespace kvlab
