#include "policies/scheduling/step_update.h"

#include <algorithm>

#include "core/errors.h"
#include "core/sampling_rows.h"
#include "policies/scheduling/group_accounting.h"

namespace kvlab {

namespace {

// Reads result.token_ids in draw order and applies the step's changes to one sequence at a
// time. The checks run per token: lazy, so a passing one builds no message string.
class StepApplier {
 public:
  StepApplier(const StepResult& result, KvCacheManager& kv, StepUpdate& update)
      : result_(result), kv_(kv), update_(update) {}

  void prefill(const PrefillChunk& chunk) {
    Sequence& seq = *chunk.seq;
    seq.num_computed += chunk.num_tokens;
    check_invariant_lazy(seq.num_computed <= seq.num_tokens(),
                         [] { return "prefill past the sequence's tokens"; });
    kv_.on_computed(seq);
    if (!chunk.samples) return;
    check_invariant_lazy(seq.num_computed == seq.num_tokens(),
                         [] { return "sampling chunk does not reach the end"; });
    if (starts_samples(chunk)) {
      const Sequence before = seq;  // the children copy the parent without its first token
      append_token(seq);
      fork_samples(*seq.group, before);
    } else {
      append_token(seq);
    }
    finish_if_done(seq);
  }

  void decode(Sequence& seq) {
    check_invariant_lazy(seq.num_pending() == 1,
                         [] { return "decode of a sequence without exactly one pending token"; });
    seq.num_computed += 1;
    kv_.on_computed(seq);
    append_token(seq);
    finish_if_done(seq);
  }

  void check_all_ids_read() const {
    check_invariant_lazy(cursor_ == result_.token_ids.size(),
                         [] { return "executor returned too many token ids"; });
  }

 private:
  void append_token(Sequence& seq) {
    seq.num_generated += 1;
    if (result_.token_ids.empty()) return;  // a back end without ids (the simulator)
    check_invariant_lazy(cursor_ < result_.token_ids.size(),
                         [] { return "executor returned too few token ids"; });
    seq.token_ids.push_back(result_.token_ids[cursor_++]);
  }

  void finish_if_done(Sequence& seq) {
    if (seq.num_generated >= seq.group->spec.output_len && !seq.is_finished()) {
      seq.status = SeqStatus::kFinished;
      kv_.release(seq);
    }
  }

  // The group's n - 1 other samples start from `parent_before` (the parent before its first
  // token), each with its own first token, sharing the parent's KV (or copying it, as the
  // manager decides; the copies go to update_.fork_copies).
  void fork_samples(SequenceGroup& group, const Sequence& parent_before) {
    for (int32_t i = 1; i < group.spec.n; ++i) {
      Sequence& child = group.add_child(parent_before, make_seq_id(group.id(), i));
      append_token(child);
    }
    const Sequence& parent = group.seqs[0];
    for (size_t i = 1; i < group.seqs.size(); ++i) {
      Sequence& child = group.seqs[i];
      if (child.num_generated >= group.spec.output_len) {
        child.status = SeqStatus::kFinished;  // never held memory of its own
        continue;
      }
      const std::vector<KvCopy> copies = kv_.fork(parent, child);
      update_.fork_copies.insert(update_.fork_copies.end(), copies.begin(), copies.end());
    }
  }

  const StepResult& result_;
  KvCacheManager& kv_;
  StepUpdate& update_;
  size_t cursor_ = 0;
};

}  // namespace

StepUpdate apply_step_result(const SchedulerOutput& plan, const StepResult& result,
                             SchedulerQueues& queues, KvCacheManager& kv) {
  StepUpdate update;
  StepApplier applier(result, kv, update);
  for (const PrefillChunk& chunk : plan.prefills) applier.prefill(chunk);
  for (Sequence* seq : plan.decodes) applier.decode(*seq);
  applier.check_all_ids_read();

  auto& running = queues.running;
  const auto end = std::remove_if(running.begin(), running.end(), [&](SequenceGroup* g) {
    if (g->num_unfinished() > 0) return false;
    set_group_status(*g, GroupStatus::kFinished);
    update.finished.push_back(g);
    return true;
  });
  running.erase(end, running.end());
  return update;
}

}  // namespace kvlab
