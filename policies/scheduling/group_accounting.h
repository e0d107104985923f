// What a scheduler needs to know about a group to budget a step and to keep its queues in
// order: how many batch places and prefill tokens it takes, whether it decodes, where it
// sorts by arrival, and how its status and its sequences' statuses change together.
#pragma once

#include <cstdint>
#include <deque>

#include "core/request.h"

namespace kvlab {

// Places `group` takes in a batch (counted against max_num_seqs): all spec.n samples before
// it forks (admission already reserves them), its unfinished sequences after (vLLM's
// get_max_num_running_seqs).
int32_t batch_seqs(const SequenceGroup& group);

// Tokens a whole prefill of `group` processes: the pending tokens of its unfinished
// sequences that are in their prompt phase (the prompt; prompt + generated after a
// recompute preemption).
int64_t prefill_tokens(const SequenceGroup& group);

// True when `seq` still runs (not finished) and has exactly its last sampled token pending.
// (Inline: the decode phase asks this of every running sequence every step.)
inline bool decodes_next(const Sequence& seq) { return !seq.is_finished() && !seq.in_prefill(); }
inline bool has_decodes(const SequenceGroup& group) {
  for (const Sequence& s : group.seqs) {
    if (decodes_next(s)) return true;
  }
  return false;
}
int32_t num_decodes(const SequenceGroup& group);
// True when `seq` still runs and has prompt-phase tokens pending.
inline bool prefills_next(const Sequence& seq) { return !seq.is_finished() && seq.in_prefill(); }

// Arrival order: arrival time, ties broken by request id.
bool arrives_before(const SequenceGroup& a, const SequenceGroup& b);

// Inserts `group` before the first entry of `queue` that arrives after it. Keeps a queue
// that is sorted by arrival sorted; on a queue of new arrivals it appends.
void insert_by_arrival(std::deque<SequenceGroup*>& queue, SequenceGroup* group);

// Sets the group's status and every unfinished sequence's to match (kRunning -> kRunning,
// ...; kRejected and kFinished -> kFinished: a group in no queue has nothing left to run).
void set_group_status(SequenceGroup& group, GroupStatus status);

// Sum of num_slots over `copies`.
template <typename Copies>
int64_t total_slots(const Copies& copies) {
  int64_t slots = 0;
  for (const auto& c : copies) slots += c.num_slots;
  return slots;
}

}  // namespace kvlab
