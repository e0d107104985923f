// Scheduler: decides, once per engine step, which sequences run and how memory pressure is
// resolved. It reads and reorders the Engine's queues, asks the KvCacheManager (which only
// answers and carries out allocations), and returns a SchedulerOutput: plain data that the
// Executor runs and the Engine records. It never executes anything and never knows which
// back end (simulator, CPU, CUDA) runs the step.
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
// batch: fork_copies, swap_out, swap_in, copies (copy-on-write), compute.
struct SchedulerOutput {
  std::vector<PrefillChunk> prefills;
  std::vector<Sequence*> decodes;        // each processes its one pending token
  std::vector<Preemption> preempted;
  std::vector<Rejection> rejected;
  std::vector<KvCopy> fork_copies;       // device -> device, from forks (filled by the Engine)
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

class Scheduler {
 public:
  virtual ~Scheduler() = default;
  virtual std::string name() const = 0;
  // Plans one step at time `now_s`. Mutates `queues` and `kv` as described above.
  virtual SchedulerOutput schedule(SchedulerQueues& queues, KvCacheManager& kv,
                                   double now_s) = 0;
};

using SchedulerRegistry = Registry<Scheduler, SchedulerConfig>;
// The process-wide registry of schedulers (filled by app/builtins.cc).
SchedulerRegistry& schedulers();

}  // namespace kvlab
