#include "policies/scheduling/step_planner.h"

#include <algorithm>

#include "core/errors.h"
#include "policies/scheduling/group_accounting.h"
#include "policies/scheduling/rejection_rules.h"

namespace kvlab {

StepPlanner::StepPlanner(const SchedulingOptions& options)
    : options_(options),
      preemptor_(options.preemption, options.victim),
      budget_(options.config.max_num_seqs, options.config.max_batched_tokens) {}

void StepPlanner::begin(SchedulerQueues& queues, KvCacheManager& kv, SchedulerOutput& output) {
  check_invariant_lazy(!output.has_work() && output.preempted.empty() && output.rejected.empty(),
                       [] { return "StepPlanner::begin: output not empty"; });
  queues_ = &queues;
  kv_ = &kv;
  output_ = &output;
  output.decodes.reserve(queues.running.size());  // one allocation in the common case
  budget_.reset();
  seqs_counted_ = false;
}

void StepPlanner::count_running_seqs() {
  if (seqs_counted_) return;
  int32_t running_seqs = 0;
  for (const SequenceGroup* g : queues_->running) running_seqs += batch_seqs(*g);
  budget_.add_seqs(running_seqs);
  seqs_counted_ = true;
}

size_t StepPlanner::admit_waiting(size_t limit) {
  auto& waiting = queues_->waiting;
  if (waiting.empty() || limit == 0) return 0;
  count_running_seqs();
  size_t taken = 0;
  while (taken < limit && !waiting.empty()) {
    const SequenceGroup& group = *waiting.front();
    // The scheduler's own rules first: they need no question to the manager.
    AllocStatus admission = AllocStatus::kNever;
    std::string reason = rejection_reason(group, options_, *kv_, &admission);
    if (!reason.empty()) {
      reject_front(std::move(reason));
      ++taken;
      continue;
    }
    if (admission != AllocStatus::kOk) break;
    if (!budget_.fits_seqs(batch_seqs(group))) break;
    const bool prefill_fits = options_.chunked()
                                  ? budget_.tokens_left() > 0
                                  : budget_.fits_tokens(prefill_tokens(group) - cached_tokens(group));
    if (!prefill_fits) break;
    admit_front();
    ++taken;
  }
  return taken;
}

void StepPlanner::reject_front(std::string reason) {
  SequenceGroup& group = *queues_->waiting.front();
  queues_->waiting.pop_front();
  set_group_status(group, GroupStatus::kRejected);
  group.reject_reason = reason;
  output_->rejected.push_back(Rejection{&group, std::move(reason)});
}

// Tokens of the waiting group's prefill a prefix cache would serve if it were admitted now.
int64_t StepPlanner::cached_tokens(const SequenceGroup& group) const {
  int64_t tokens = 0;
  for (const Sequence& s : group.seqs) {
    if (prefills_next(s)) tokens += kv_->probe_cached_prefix(s);
  }
  return tokens;
}

void StepPlanner::admit_front() {
  SequenceGroup& group = *queues_->waiting.front();
  kv_->admit(group);
  // What the manager found cached is computed already: the prefill starts after it.
  for (Sequence& seq : group.seqs) {
    if (seq.is_finished()) continue;
    const int32_t cached = kv_->cached_prefix(seq);
    // KV that came with the request (a disaggregated decode side), at its first admission.
    const int32_t transferred = group.num_recomputes == 0 ? group.spec.transferred_len : 0;
    check_invariant_lazy(
        seq.num_computed == 0 && cached < seq.num_tokens() && transferred < seq.num_tokens(),
        [] {
          return "admit: a waiting sequence with computed tokens, or all its tokens cached or "
                 "transferred";
        });
    seq.num_computed = std::max(cached, transferred);
    group.cached_tokens += cached;
  }
  if (group.cached_prompt_tokens < 0) {
    group.cached_prompt_tokens = std::min(group.seqs[0].num_computed, group.spec.prompt_len);
  }
  queues_->waiting.pop_front();
  set_group_status(group, GroupStatus::kRunning);
  insert_by_arrival(queues_->running, &group);
  budget_.add_seqs(batch_seqs(group));
  add_prefills(group);
}

void StepPlanner::schedule_decodes() {
  auto& running = queues_->running;
  size_t i = 0;
  while (i < running.size()) {
    SequenceGroup& group = *running[i];
    if (!has_decodes(group)) {
      ++i;  // still in its prompt phase: continue_prefills' business
      continue;
    }
    if (!make_room_to_append(i)) continue;  // preempted itself; running[i] is the next group
    add_decodes(group);
    ++i;
  }
}

bool StepPlanner::make_room_to_append(size_t index) {
  auto& running = queues_->running;
  SequenceGroup* group = running[index];
  while (!kv_->can_append(*group)) {
    const size_t victim = preemptor_.pick_victim(running, index);
    if (seqs_counted_) budget_.remove_seqs(batch_seqs(*running[victim]));
    preemptor_.preempt(*queues_, victim, *kv_, *output_);
    if (victim == index) return false;
  }
  return true;
}

void StepPlanner::add_decodes(SequenceGroup& group) {
  for (Sequence& seq : group.seqs) {
    if (!decodes_next(seq)) continue;
    std::vector<KvCopy> copies = kv_->append_slot(seq);
    if (!copies.empty())
      output_->copies.insert(output_->copies.end(), copies.begin(), copies.end());
    output_->decodes.push_back(&seq);
    output_->num_decode_tokens += 1;
    budget_.add_tokens(1);
  }
}

void StepPlanner::swap_in() {
  auto& swapped = queues_->swapped;
  if (swapped.empty()) return;
  count_running_seqs();
  while (!swapped.empty()) {
    SequenceGroup& group = *swapped.front();
    if (kv_->can_swap_in(group) != AllocStatus::kOk) break;
    if (!budget_.fits_seqs(batch_seqs(group)) || !budget_.fits_tokens(num_decodes(group))) break;
    std::vector<KvCopy> copies = kv_->swap_in(group);
    group.swapped_slots += total_slots(copies);
    output_->swap_in.insert(output_->swap_in.end(), copies.begin(), copies.end());
    swapped.pop_front();
    set_group_status(group, GroupStatus::kRunning);
    insert_by_arrival(queues_->running, &group);
    budget_.add_seqs(batch_seqs(group));
    if (has_decodes(group)) {
      if (!kv_->can_append(group)) break;
      add_decodes(group);
    }
  }
}

bool StepPlanner::continue_prefills() {
  bool all_scheduled = true;
  for (SequenceGroup* group : queues_->running) {
    all_scheduled = add_prefills(*group) && all_scheduled;
  }
  return all_scheduled;
}

bool StepPlanner::add_prefills(SequenceGroup& group) {
  bool all_scheduled = true;
  for (Sequence& seq : group.seqs) {
    if (!prefills_next(seq)) continue;
    const int32_t tokens = chunk_tokens(seq);
    if (tokens <= 0) {
      all_scheduled = false;
      continue;
    }
    const int32_t start = seq.num_computed;
    const bool samples = start + tokens == seq.num_tokens();
    output_->prefills.push_back(PrefillChunk{&seq, start, tokens, samples});
    output_->num_prefill_tokens += tokens;
    budget_.add_tokens(tokens);
  }
  return all_scheduled;
}

int32_t StepPlanner::chunk_tokens(const Sequence& seq) const {
  const int32_t pending = seq.num_pending();
  if (!options_.chunked()) return pending;
  const int64_t bound = std::min<int64_t>(options_.chunk_size, budget_.tokens_left());
  int32_t tokens = static_cast<int32_t>(std::min<int64_t>(bound, pending));
  // A sequence that has generated tokens and has exactly one pending token counts as
  // decoding (Sequence::in_prefill), and a decode first gets a new slot. A sequence being
  // recomputed already holds its last token's slot (admit allocated them all), so its chunks
  // never stop one token short of the end: the last one takes at least two tokens.
  if (seq.num_generated > 0 && pending - tokens == 1) --tokens;
  return tokens;
}

}  // namespace kvlab
