#include "core/sweep.h"

#include <gtest/gtest.h>

#include "core/errors.h"

namespace kvlab {
namespace {

TEST(Sweep, NoSweepIsOnePointWithoutLabel) {
  const auto points = expand_sweep(Config::parse("[memory]\npolicy = paged\n", "x.ini"));
  ASSERT_EQ(points.size(), 1u);
  EXPECT_EQ(points[0].label, "");
  EXPECT_EQ(points[0].config.get_string("memory.policy"), "paged");
}

TEST(Sweep, CartesianProductInWrittenOrderFirstKeySlowest) {
  const auto points = expand_sweep(Config::parse(
      "[sweep]\nmemory.policy = paged, contiguous\nmemory.block_size = 8, 16, 32\n", "x.ini"));
  ASSERT_EQ(points.size(), 6u);
  const char* expected[] = {
      "memory.policy=paged, memory.block_size=8",       "memory.policy=paged, memory.block_size=16",
      "memory.policy=paged, memory.block_size=32",      "memory.policy=contiguous, memory.block_size=8",
      "memory.policy=contiguous, memory.block_size=16", "memory.policy=contiguous, memory.block_size=32"};
  for (size_t i = 0; i < points.size(); ++i) {
    EXPECT_EQ(points[i].label, expected[i]);
    EXPECT_EQ(points[i].index, i);
    EXPECT_TRUE(points[i].config.sweep().empty());
  }
  EXPECT_EQ(points[4].config.get_int("memory.block_size"), 16);
  EXPECT_EQ(points[4].config.get_string("memory.policy"), "contiguous");
}

TEST(Sweep, ShardsPartitionThePoints) {
  const Shard s = parse_shard("1/3");
  EXPECT_EQ(s.index, 1u);
  EXPECT_EQ(s.count, 3u);
  EXPECT_FALSE(s.contains(0));
  EXPECT_TRUE(s.contains(1));
  EXPECT_TRUE(s.contains(4));
  for (const char* bad : {"3/3", "x/2", "1/0", "2", "-1/2", "1/"}) {
    EXPECT_THROW(parse_shard(bad), InputError) << bad;
  }
}

}  // namespace
}  // namespace kvlab
