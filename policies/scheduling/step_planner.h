// StepPlanner: the phases a scheduler builds one step from, shared by the batching policies
// (continuous, static), each a small function over the same step state:
//
//   admit_waiting      FCFS admission from `waiting` (and rejection of what can never run)
//   schedule_decodes   one token for every running sequence past its prompt, preempting
//                      (Preemptor) while a group cannot get its next slot
//   swap_in            swapped groups back, oldest swap first; their decodes run this step
//   continue_prefills  chunked prefill: the next chunk of running sequences' prompts
//
// A scheduler composes them (see continuous_scheduler.cc, static_scheduler.cc). The planner
// keeps `running` in arrival order (new admissions arrive last; re-admitted and swapped-in
// groups return to their arrival position; update_from_output only removes finished groups),
// so decodes are planned oldest first and the LIFO victim is the last entry. Were `running`
// reordered by someone else, decodes would follow that order and the victim would still be
// the latest arrival among the groups not yet served this step. It writes everything it decides
// into the step's SchedulerOutput: prefill chunks (the slots were allocated by admit), decodes
// (after append_slot; copy-on-write copies into `copies`), preemptions, swaps, rejections, and the
// token counts.
//
// Prefix caching: an admitted sequence starts at the tokens the manager found cached
// (KvCacheManager::cached_prefix), so its prefill chunks cover only the rest; the whole-prefill
// budget check counts only the uncached tokens.
//
// Statuses: every group the planner moves gets its new status, and its unfinished
// sequences theirs, in the same call (set_group_status).
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/kv_cache_manager.h"
#include "core/scheduler.h"
#include "policies/scheduling/preemptor.h"
#include "policies/scheduling/scheduling_options.h"
#include "policies/scheduling/step_budget.h"

namespace kvlab {

class StepPlanner {
 public:
  explicit StepPlanner(const SchedulingOptions& options);

  // Starts planning a step into `output`, which must be empty. The three references are held
  // until the next begin().
  void begin(SchedulerQueues& queues, KvCacheManager& kv, SchedulerOutput& output);

  // Considers at most `limit` groups from the front of `waiting`, in order. A group that can
  // never run is rejected (removed, status kRejected, reason set, listed in output.rejected)
  // and the next one is considered. Otherwise it is admitted (manager admit, moved to
  // running, its prefill scheduled: whole, or a first chunk when chunking) if the manager
  // says kOk and it fits the budget: all its batch places, and its whole prefill (or, with
  // chunking, at least one token). The first group that does not fit ends admission: FCFS,
  // no overtaking. Returns how many groups left `waiting` (admitted + rejected).
  size_t admit_waiting(size_t limit);

  // Decodes every running sequence that is past its prompt, in arrival order. Before a group
  // decodes, while the manager says it cannot append, the victim rule picks a group among it
  // and those after it and the Preemptor preempts that one; when the victim is the group
  // itself, it does not decode.
  void schedule_decodes();

  // Swaps groups in from the front of `swapped` while the manager says kOk and their batch
  // places and decodes fit the budget; each moves to running and decodes this step. A group
  // that is back but cannot append yet decodes in a later step, and ends this phase.
  void swap_in();

  // Chunked prefill: gives each running sequence in its prompt phase, in arrival order, a
  // chunk of min(chunk_size, tokens left in the budget, its pending tokens) (one less when
  // that would leave a recomputed sequence with only its last token: see chunk_tokens).
  // Returns false when some sequence got no chunk: new admissions must then wait (FCFS).
  bool continue_prefills();

  bool preempted_any() const { return !output_->preempted.empty(); }
  bool has_prefills() const { return !output_->prefills.empty(); }
  const Preemptor& preemptor() const { return preemptor_; }

 private:
  // Preempts victims until running[index] can append. False when it preempted that group.
  bool make_room_to_append(size_t index);
  // Counts the running groups' batch places into the budget, once per step, when a phase
  // first needs them (a step of decodes alone never does).
  void count_running_seqs();
  void add_decodes(SequenceGroup& group);
  // Schedules the next chunk of each of `group`'s prompt-phase sequences, as the budget
  // allows. Returns false when one of them got nothing.
  bool add_prefills(SequenceGroup& group);
  void reject_front(std::string reason);
  void admit_front();
  // Tokens the next chunk of `seq` gets: all pending without chunking, else bounded by the
  // chunk size and the budget (0 when the budget is spent), never leaving a recomputed
  // sequence with just its last token pending.
  int32_t chunk_tokens(const Sequence& seq) const;
  int64_t cached_tokens(const SequenceGroup& group) const;

  SchedulingOptions options_;
  Preemptor preemptor_;
  StepBudget budget_;
  SchedulerQueues* queues_ = nullptr;
  KvCacheManager* kv_ = nullptr;
  SchedulerOutput* output_ = nullptr;
  bool seqs_counted_ = false;
};

}  // namespace kvlab
