#include "core/request.h"

#include "core/errors.h"

namespace kvlab {

const char* to_string(SeqStatus s) {
  switch (s) {
    case SeqStatus::kWaiting: return "waiting";
    case SeqStatus::kRunning: return "running";
    case SeqStatus::kSwapped: return "swapped";
    case SeqStatus::kFinished: return "finished";
  }
  return "?";
}

const char* to_string(GroupStatus s) {
  switch (s) {
    case GroupStatus::kWaiting: return "waiting";
    case GroupStatus::kRunning: return "running";
    case GroupStatus::kSwapped: return "swapped";
    case GroupStatus::kFinished: return "finished";
    case GroupStatus::kRejected: return "rejected";
  }
  return "?";
}

int32_t Sequence::final_len() const { return prompt_len + group->spec.output_len; }

SequenceGroup::SequenceGroup(RequestSpec request) : spec(std::move(request)) {
  check_invariant(spec.n >= 1 && spec.n <= kMaxSamples, "SequenceGroup: n out of range");
  seqs.reserve(static_cast<size_t>(spec.n));
  Sequence& s = seqs.emplace_back();
  s.id = make_seq_id(spec.id, 0);
  s.group = this;
  s.prompt_len = spec.prompt_len;
  s.token_ids = spec.prompt_tokens;
}

int32_t SequenceGroup::num_unfinished() const {
  int32_t count = 0;
  for (const Sequence& s : seqs) count += s.is_finished() ? 0 : 1;
  return count;
}

Sequence& SequenceGroup::add_child(const Sequence& parent, SeqId child_id) {
  check_invariant(seqs.size() < seqs.capacity(), "add_child: group already has n sequences");
  Sequence child = parent;
  child.id = child_id;
  // Identities past the prompt are the sample's own: keep the prompt's full blocks only.
  const size_t prompt_blocks =
      child.block_hashes_block_size > 0
          ? static_cast<size_t>(child.prompt_len / child.block_hashes_block_size)
          : 0;
  if (child.block_hashes.size() > prompt_blocks) child.block_hashes.resize(prompt_blocks);
  seqs.push_back(std::move(child));
  return seqs.back();
}

}  // namespace kvlab
