#include "kernels/model/forward_batch.h"

#include <string>

#include "core/errors.h"

namespace kvlab {

namespace {

void check_tokens(const Sequence& seq, int64_t end) {
  check_invariant(
      seq.token_ids.size() == static_cast<size_t>(seq.num_tokens()) && end <= seq.num_tokens(),
      "forward_entries: sequence " + std::to_string(seq.id) + " carries " +
          std::to_string(seq.token_ids.size()) + " token ids for " +
          std::to_string(seq.num_tokens()) + " tokens (needs " + std::to_string(end) + ")");
}

}  // namespace

std::vector<ForwardEntry> forward_entries(const SchedulerOutput& plan, const KvCacheManager& kv) {
  return forward_entries(plan, [&kv](const Sequence& seq) { return kv.layout(seq); });
}

std::vector<ForwardEntry> forward_entries(
    const SchedulerOutput& plan, const std::function<KvLayout(const Sequence&)>& layout_of) {
  std::vector<ForwardEntry> entries;
  entries.reserve(plan.prefills.size() + plan.decodes.size());
  for (const PrefillChunk& chunk : plan.prefills) {
    const Sequence& seq = *chunk.seq;
    check_invariant(chunk.start >= 0 && chunk.num_tokens > 0,
                    "forward_entries: empty prefill chunk of sequence " + std::to_string(seq.id));
    check_tokens(seq, int64_t{chunk.start} + chunk.num_tokens);
    ForwardEntry e;
    e.tokens.assign(seq.token_ids.begin() + chunk.start,
                    seq.token_ids.begin() + chunk.start + chunk.num_tokens);
    e.start = chunk.start;
    e.layout = layout_of(seq);
    e.samples = chunk.samples;
    entries.push_back(std::move(e));
  }
  for (const Sequence* seq : plan.decodes) {
    check_invariant(seq->num_pending() == 1,
                    "forward_entries: decode of sequence " + std::to_string(seq->id) + " has " +
                        std::to_string(seq->num_pending()) + " pending tokens");
    check_tokens(*seq, seq->num_tokens());
    ForwardEntry e;
    e.tokens = {seq->token_ids[static_cast<size_t>(seq->num_computed)]};
    e.start = seq->num_computed;
    e.layout = layout_of(*seq);
    e.samples = true;
    entries.push_back(std::move(e));
  }
  return entries;
}

}  // namespace kvlab
