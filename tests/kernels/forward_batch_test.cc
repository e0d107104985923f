// forward_entries: a scheduler's plan becomes the model's batch, prefill chunks then decodes,
// with each sequence's layout from the manager; and that batch drives the model.
#include "kernels/model/forward_batch.h"

#include <gtest/gtest.h>

#include <map>
#include <stdexcept>

#include "core/errors.h"
#include "kernels/model/weight_source.h"
#include "tests/kernels/model_test_util.h"

namespace kvlab {
namespace {

// A manager that only answers layout(), from a table; everything else is out of scope here.
class LayoutTableManager : public KvCacheManager {
 public:
  std::map<SeqId, KvLayout> layouts;

  std::string name() const override { return "layout-table"; }
  int64_t capacity_slots() const override { return 1024; }
  int64_t host_capacity_slots() const override { return 0; }
  int64_t free_slots() const override { return 0; }
  AllocStatus can_admit(const SequenceGroup&) const override { return unused<AllocStatus>(); }
  void admit(const SequenceGroup&) override { unused<void>(); }
  bool can_append(const SequenceGroup&) const override { return unused<bool>(); }
  std::vector<KvCopy> append_slot(const Sequence&) override {
    return unused<std::vector<KvCopy>>();
  }
  std::vector<KvCopy> fork(const Sequence&, const Sequence&) override {
    return unused<std::vector<KvCopy>>();
  }
  void release(const Sequence&) override { unused<void>(); }
  AllocStatus can_swap_out(const SequenceGroup&) const override { return unused<AllocStatus>(); }
  std::vector<KvCopy> swap_out(const SequenceGroup&) override {
    return unused<std::vector<KvCopy>>();
  }
  AllocStatus can_swap_in(const SequenceGroup&) const override { return unused<AllocStatus>(); }
  std::vector<KvCopy> swap_in(const SequenceGroup&) override {
    return unused<std::vector<KvCopy>>();
  }
  KvLayout layout(const Sequence& seq) const override { return layouts.at(seq.id); }
  MemoryBreakdown breakdown(const SequenceGroup*) const override {
    return unused<MemoryBreakdown>();
  }
  void audit() const override {}

 private:
  template <typename T>
  static T unused() {
    throw std::logic_error("LayoutTableManager: only layout() is implemented");
  }
};

SequenceGroup make_group(RequestId id, std::vector<int32_t> prompt) {
  RequestSpec spec;
  spec.id = id;
  spec.prompt_len = static_cast<int32_t>(prompt.size());
  spec.output_len = 8;
  spec.prompt_tokens = std::move(prompt);
  return SequenceGroup(spec);
}

TEST(ForwardEntries, PrefillChunksThenDecodesWithLayouts) {
  testing::LayoutAllocator alloc = testing::LayoutAllocator::paged(16, 1024, true);
  SequenceGroup chunked = make_group(1, testing::random_prompt(20, 256, 1));
  SequenceGroup decoding = make_group(2, testing::random_prompt(6, 256, 2));
  Sequence& c = chunked.seqs[0];
  Sequence& d = decoding.seqs[0];
  c.num_computed = 8;         // earlier chunk done
  d.token_ids.push_back(42);  // generated one token, not yet processed
  d.num_generated = 1;
  d.num_computed = 6;
  LayoutTableManager kv;
  kv.layouts[c.id] = alloc.allocate(28);
  kv.layouts[d.id] = alloc.allocate(14);

  SchedulerOutput plan;
  plan.prefills.push_back(PrefillChunk{&c, 8, 12, true});
  plan.decodes.push_back(&d);
  const std::vector<ForwardEntry> entries = forward_entries(plan, kv);
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].start, 8);
  EXPECT_EQ(entries[0].tokens, std::vector<int32_t>(c.token_ids.begin() + 8, c.token_ids.end()));
  EXPECT_TRUE(entries[0].samples);
  EXPECT_EQ(entries[0].layout.block_table, kv.layouts[c.id].block_table);
  EXPECT_EQ(entries[1].start, 6);
  EXPECT_EQ(entries[1].tokens, std::vector<int32_t>{42});
  EXPECT_EQ(entries[1].layout.block_table, kv.layouts[d.id].block_table);

  // The entries drive the model (after the earlier tokens are in the cache).
  const LlamaModel model(testing::tiny_llama_spec(), DummyWeightSource(5));
  cpu::CpuKvCache cache = model.make_kv_cache(1024);
  std::vector<ForwardEntry> earlier = {
      {std::vector<int32_t>(c.token_ids.begin(), c.token_ids.begin() + 8), 0, kv.layouts[c.id],
       false},
      {std::vector<int32_t>(d.token_ids.begin(), d.token_ids.begin() + 6), 0, kv.layouts[d.id],
       false}};
  EXPECT_EQ(model.forward(earlier, cache).rows(), 0);
  EXPECT_EQ(model.forward(entries, cache).rows(), 2);
}

TEST(ForwardEntries, RefusesSequencesWithoutTokenIds) {
  SequenceGroup group = make_group(3, {});
  Sequence& s = group.seqs[0];
  s.prompt_len = 10;  // simulator-style: lengths without ids
  LayoutTableManager kv;
  kv.layouts[s.id] = testing::LayoutAllocator::contiguous(64).allocate(16);
  SchedulerOutput plan;
  plan.prefills.push_back(PrefillChunk{&s, 0, 10, true});
  EXPECT_THROW(forward_entries(plan, kv), InvariantError);
}

}  // namespace
}  // namespace kvlab
