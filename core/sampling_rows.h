// The n-sample row rule: which tokens a step samples, from which row of logits, with which
// sample index. Written once here and read by every back end that samples (the cpu and cuda
// executors) and by the scheduler that appends the sampled ids (update_from_output).
//
// A step's logits have one row per sampling entry, in plan order: each prefill chunk with
// samples == true, then each decode. Every row gives one draw with the sequence's own sample
// index (seq.id % kMaxSamples), except the row of a chunk that completes the prompt of a group
// that has not forked yet and has spec.n > 1: it gives spec.n draws, sample indices 0..n-1,
// the first token of each sample (draw 0 is the parent's, draw i the i-th child's once the
// scheduler forks them). StepResult::token_ids lists the ids in the order of the draws.
//
// Thread safety: pure functions of the plan.
#pragma once

#include <cstdint>

#include "core/request.h"
#include "core/scheduler.h"

namespace kvlab {

// True when `chunk` completes the prompt of a group whose samples have not started (spec.n >
// 1, not forked): its row gives the first token of every sample.
inline bool starts_samples(const PrefillChunk& chunk) {
  const SequenceGroup& group = *chunk.seq->group;
  return chunk.samples && !group.has_forked() && group.spec.n > 1;
}

// Tokens drawn from `chunk`'s row: 0 when it does not sample, spec.n when it starts the
// samples, else 1.
inline int32_t num_draws(const PrefillChunk& chunk) {
  if (!chunk.samples) return 0;
  return starts_samples(chunk) ? chunk.seq->group->spec.n : 1;
}

// The sample index a sequence draws its own tokens with.
inline int32_t own_sample_index(const Sequence& seq) {
  return static_cast<int32_t>(seq.id % kMaxSamples);
}

// One token a step samples: from logits row `row`, for `seq` (whose token history and
// position it is drawn after), seeded with `sample_index`.
struct TokenDraw {
  const Sequence* seq = nullptr;
  int64_t row = 0;
  int32_t sample_index = 0;
};

// Calls fn(const TokenDraw&) for every draw of `plan`, in StepResult::token_ids order, and
// returns the number of logits rows the draws read (sampling chunks + decodes).
// REQUIRES: called before the step is applied (the plan's sequences as they were planned).
template <typename Fn>
int64_t for_each_draw(const SchedulerOutput& plan, Fn&& fn) {
  int64_t row = 0;
  for (const PrefillChunk& chunk : plan.prefills) {
    if (!chunk.samples) continue;
    const Sequence& seq = *chunk.seq;
    if (starts_samples(chunk)) {
      for (int32_t i = 0; i < seq.group->spec.n; ++i) fn(TokenDraw{&seq, row, i});
    } else {
      fn(TokenDraw{&seq, row, own_sample_index(seq)});
    }
    ++row;
  }
  for (const Sequence* seq : plan.decodes) {
    fn(TokenDraw{seq, row, own_sample_index(*seq)});
    ++row;
  }
  return row;
}

}  // namespace kvlab
