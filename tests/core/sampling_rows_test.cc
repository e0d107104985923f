// The n-sample row rule (core/sampling_rows.h), the one both real back ends draw by: which
// tokens a step samples, from which logits row, with which sample index, in token-id order.
#include "core/sampling_rows.h"

#include <gtest/gtest.h>

#include <tuple>
#include <vector>

namespace kvlab {
namespace {

RequestSpec spec(RequestId id, int32_t n) {
  RequestSpec r;
  r.id = id;
  r.prompt_len = 6;
  r.output_len = 4;
  r.n = n;
  return r;
}

// (sequence id, row, sample index) of every draw, in order.
using Draws = std::vector<std::tuple<SeqId, int64_t, int32_t>>;

Draws draws_of(const SchedulerOutput& plan, int64_t* rows) {
  Draws out;
  *rows = for_each_draw(
      plan, [&](const TokenDraw& d) { out.emplace_back(d.seq->id, d.row, d.sample_index); });
  return out;
}

TEST(SamplingRows, OneRowPerSamplingEntryAndNDrawsWhereSamplesStart) {
  SequenceGroup starts(spec(1, 3));   // prompt done now, not forked: 3 first tokens
  SequenceGroup partial(spec(2, 1));  // a chunk that does not reach the end: no row
  SequenceGroup single(spec(3, 1));   // n = 1: one draw, its own index
  SequenceGroup forked(spec(4, 2));   // forked already: each sample draws its own
  forked.seqs[0].num_generated = 1;
  forked.add_child(forked.seqs[0], make_seq_id(4, 1));

  SchedulerOutput plan;
  plan.prefills = {PrefillChunk{&partial.seqs[0], 0, 3, false},
                   PrefillChunk{&starts.seqs[0], 0, 6, true},
                   PrefillChunk{&single.seqs[0], 0, 6, true}};
  plan.decodes = {&forked.seqs[1], &forked.seqs[0]};

  EXPECT_EQ(num_draws(plan.prefills[0]), 0);
  EXPECT_EQ(num_draws(plan.prefills[1]), 3);
  EXPECT_EQ(num_draws(plan.prefills[2]), 1);
  EXPECT_FALSE(starts_samples(plan.prefills[0]));
  EXPECT_TRUE(starts_samples(plan.prefills[1]));
  EXPECT_FALSE(starts_samples(plan.prefills[2]));

  int64_t rows = 0;
  const Draws draws = draws_of(plan, &rows);
  EXPECT_EQ(rows, 4);  // two sampling chunks, two decodes
  const Draws expected = {{make_seq_id(1, 0), 0, 0}, {make_seq_id(1, 0), 0, 1},
                          {make_seq_id(1, 0), 0, 2}, {make_seq_id(3, 0), 1, 0},
                          {make_seq_id(4, 1), 2, 1}, {make_seq_id(4, 0), 3, 0}};
  EXPECT_EQ(draws, expected);
}

TEST(SamplingRows, ARecomputedPromptOfAForkedGroupDrawsOncePerSample) {
  // After a recompute preemption a forked group re-prefills every sample: each chunk that
  // reaches the end of its sample is one row and one draw, with that sample's own index.
  SequenceGroup g(spec(7, 2));
  g.seqs[0].num_generated = 2;
  g.add_child(g.seqs[0], make_seq_id(7, 1));
  SchedulerOutput plan;
  plan.prefills = {PrefillChunk{&g.seqs[0], 0, 8, true}, PrefillChunk{&g.seqs[1], 0, 8, true}};
  EXPECT_FALSE(starts_samples(plan.prefills[0]));
  int64_t rows = 0;
  EXPECT_EQ(draws_of(plan, &rows), (Draws{{make_seq_id(7, 0), 0, 0}, {make_seq_id(7, 1), 1, 1}}));
  EXPECT_EQ(rows, 2);
}

TEST(SamplingRows, AStepWithoutSamplingHasNoRows) {
  SequenceGroup g(spec(9, 4));
  SchedulerOutput plan;
  plan.prefills = {PrefillChunk{&g.seqs[0], 0, 4, false}};
  int64_t rows = -1;
  EXPECT_TRUE(draws_of(plan, &rows).empty());
  EXPECT_EQ(rows, 0);
  EXPECT_EQ(own_sample_index(g.seqs[0]), 0);
}

}  // namespace
}  // namespace kvlab
