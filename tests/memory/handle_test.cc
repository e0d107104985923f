// Sequence::kv_handle, for every memory configuration: the manager holding a sequence finds
// its books through the handle, recycles indices as sequences leave, gives forked samples
// their own, and never follows a handle that is stale (released, copied, forged) or was
// written by another manager; audit() reports a held sequence whose handle was overwritten.
#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <vector>

#include "core/errors.h"
#include "tests/memory/kv_test_util.h"

namespace kvlab {
namespace {

using testutil::KvDriver;
using testutil::make_spec;
using testutil::MemoryCase;

constexpr int64_t kCapacity = 2048;
constexpr int64_t kSwap = 2048;
constexpr int32_t kMaxSeqLen = 256;

class KvHandleTest : public ::testing::TestWithParam<MemoryCase> {
 protected:
  std::unique_ptr<KvCacheManager> make() const {
    return testutil::create_manager(GetParam().config);
  }
};

TEST(KvHandle, CopiesAreEmptyAndAssignmentKeepsTheTargetsOwn) {
  Sequence a;
  a.kv_handle.set(7);
  const Sequence copy = a;
  EXPECT_EQ(copy.kv_handle.index(), KvHandle::kNone);
  Sequence b;
  b.kv_handle.set(3);
  b = a;
  EXPECT_EQ(b.kv_handle.index(), 3);
  EXPECT_EQ(a.kv_handle.index(), 7);
}

TEST_P(KvHandleTest, ReleaseRecyclesIndicesAndTheOthersStayReachable) {
  auto kv = make();
  KvDriver d(*kv);
  std::vector<std::unique_ptr<SequenceGroup>> groups;
  for (int i = 0; i < 4; ++i) {
    groups.push_back(d.new_group(make_spec(i + 1, 10 + i, 30)));
    ASSERT_EQ(d.try_admit(*groups.back()), AllocStatus::kOk);
    d.prefill(*groups.back());
  }
  std::set<int32_t> indices;
  for (const auto& g : groups) indices.insert(g->seqs[0].kv_handle.index());
  EXPECT_EQ(indices, (std::set<int32_t>{0, 1, 2, 3}));

  // The first leaves: its handle is cleared, another sequence takes its index.
  d.abort(*groups[0]);
  EXPECT_EQ(groups[0]->seqs[0].kv_handle.index(), KvHandle::kNone);
  for (size_t i = 1; i < groups.size(); ++i) {
    ASSERT_TRUE(d.decode(*groups[i]));
    d.expect_data(*groups[i]);
  }
  // A newcomer reuses the free index, and every sequence still reads its own tokens.
  auto late = d.new_group(make_spec(9, 12, 30));
  ASSERT_EQ(d.try_admit(*late), AllocStatus::kOk);
  EXPECT_EQ(late->seqs[0].kv_handle.index(), 3);
  d.prefill(*late);
  ASSERT_TRUE(d.decode(*late));
  d.expect_data(*late);
  for (size_t i = 1; i < groups.size(); ++i) d.expect_data(*groups[i]);
}

TEST_P(KvHandleTest, ForkedSamplesGetTheirOwnHandles) {
  auto kv = make();
  KvDriver d(*kv);
  auto g = d.new_group(make_spec(1, 20, 30, 3));
  ASSERT_EQ(d.try_admit(*g), AllocStatus::kOk);
  ASSERT_TRUE(d.prefill(*g));
  d.fork_samples(*g);  // the children are copies of the parent: they start with no handle
  ASSERT_EQ(g->seqs.size(), 3u);
  std::set<int32_t> indices;
  for (const Sequence& s : g->seqs) indices.insert(s.kv_handle.index());
  EXPECT_EQ(indices.size(), 3u);
  EXPECT_EQ(indices.count(KvHandle::kNone), 0u);
  ASSERT_TRUE(d.decode(*g));
  d.expect_data(*g);
}

TEST_P(KvHandleTest, ACopyOrAForgedHandleIsNotFollowed) {
  auto kv = make();
  KvDriver d(*kv);
  auto a = d.new_group(make_spec(1, 20, 30));
  auto b = d.new_group(make_spec(2, 20, 30));
  ASSERT_EQ(d.try_admit(*a), AllocStatus::kOk);
  d.prefill(*a);
  const int64_t free_before = kv->free_slots();

  // A copy of a held sequence is a sequence nobody holds.
  const Sequence copy = a->seqs[0];
  EXPECT_THROW(kv->layout(copy), InvariantError);
  kv->release(copy);
  EXPECT_EQ(kv->free_slots(), free_before);

  // b holds nothing but claims a's index: still nothing held.
  b->seqs[0].kv_handle.set(a->seqs[0].kv_handle.index());
  EXPECT_THROW(kv->layout(b->seqs[0]), InvariantError);
  kv->release(b->seqs[0]);
  EXPECT_EQ(kv->free_slots(), free_before);
  kv->audit();
  d.expect_data(*a);

  // ... and it can still be admitted (the stale index is overwritten).
  ASSERT_EQ(d.try_admit(*b), AllocStatus::kOk);
  EXPECT_NE(b->seqs[0].kv_handle.index(), a->seqs[0].kv_handle.index());
  d.prefill(*b);
  d.expect_data(*a);
  d.expect_data(*b);
}

TEST_P(KvHandleTest, ASequenceHeldByTwoManagersFailsTheAudit) {
  auto first = make();
  auto second = make();
  testutil::TokenSource tokens(1);
  auto decoy = testutil::make_group(make_spec(1, 8, 30), tokens);
  auto g = testutil::make_group(make_spec(2, 8, 30), tokens);
  second->admit(*decoy);  // so that g lands at another index in `second`
  first->admit(*g);
  first->audit();
  second->admit(*g);  // breaks the contract: one manager at a time
  second->audit();
  EXPECT_THROW(first->audit(), InvariantError);
#ifndef NDEBUG
  // Builds with assertions also catch it at the first lookup that misses.
  EXPECT_THROW(first->layout(g->seqs[0]), InvariantError);
#endif
}

INSTANTIATE_TEST_SUITE_P(AllPolicies, KvHandleTest,
                         ::testing::ValuesIn(testutil::all_memory_cases(kCapacity, kSwap,
                                                                        kMaxSeqLen)),
                         testutil::case_name);

}  // namespace
}  // namespace kvlab
