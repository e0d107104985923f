#include "policies/scheduling/group_accounting.h"

namespace kvlab {

int32_t batch_seqs(const SequenceGroup& group) {
  return group.has_forked() ? group.num_unfinished() : group.spec.n;
}

int64_t prefill_tokens(const SequenceGroup& group) {
  int64_t tokens = 0;
  for (const Sequence& s : group.seqs) {
    if (prefills_next(s)) tokens += s.num_pending();
  }
  return tokens;
}

int32_t num_decodes(const SequenceGroup& group) {
  int32_t count = 0;
  for (const Sequence& s : group.seqs) count += decodes_next(s) ? 1 : 0;
  return count;
}

bool arrives_before(const SequenceGroup& a, const SequenceGroup& b) {
  if (a.spec.arrival_s != b.spec.arrival_s) return a.spec.arrival_s < b.spec.arrival_s;
  return a.id() < b.id();
}

void insert_by_arrival(std::deque<SequenceGroup*>& queue, SequenceGroup* group) {
  auto at = queue.end();
  // Walk back from the end: new arrivals and re-admissions of recent groups stop at once.
  while (at != queue.begin() && arrives_before(*group, **(at - 1))) --at;
  queue.insert(at, group);
}

void set_group_status(SequenceGroup& group, GroupStatus status) {
  group.status = status;
  SeqStatus seq_status = SeqStatus::kFinished;
  switch (status) {
    case GroupStatus::kWaiting:
      seq_status = SeqStatus::kWaiting;
      break;
    case GroupStatus::kRunning:
      seq_status = SeqStatus::kRunning;
      break;
    case GroupStatus::kSwapped:
      seq_status = SeqStatus::kSwapped;
      break;
    case GroupStatus::kFinished:
    case GroupStatus::kRejected:
      seq_status = SeqStatus::kFinished;
      break;
  }
  for (Sequence& s : group.seqs) {
    if (!s.is_finished()) s.status = seq_status;
  }
}

}  // namespace kvlab
