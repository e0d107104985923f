// BlockHashMap against std::unordered_map over random inserts, finds and erases, with keys
// crowded into few home slots (so probe runs wrap the table and erases shift entries back) and
// the key 0 (the empty marker, stored aside).
#include "core/block_hash_map.h"

#include <gtest/gtest.h>

#include <random>
#include <unordered_map>
#include <vector>

namespace kvlab {
namespace {

TEST(BlockHashMap, InsertFindErase) {
  BlockHashMap m;
  EXPECT_TRUE(m.empty());
  EXPECT_TRUE(m.insert(42, 7));
  EXPECT_FALSE(m.insert(42, 8));  // present: unchanged
  ASSERT_NE(m.find(42), nullptr);
  EXPECT_EQ(*m.find(42), 7);
  EXPECT_EQ(m.find(43), nullptr);
  EXPECT_TRUE(m.insert(0, 5));
  EXPECT_EQ(*m.find(0), 5);
  EXPECT_EQ(m.size(), 2u);
  EXPECT_TRUE(m.erase(0));
  EXPECT_FALSE(m.erase(0));
  EXPECT_TRUE(m.erase(42));
  EXPECT_FALSE(m.contains(42));
  EXPECT_TRUE(m.empty());
}

TEST(BlockHashMap, MatchesUnorderedMapUnderCollisionsAndGrowth) {
  for (const uint64_t home_bits : {2u, 5u, 64u}) {
    std::mt19937_64 rng(home_bits);
    BlockHashMap m;
    std::unordered_map<uint64_t, int32_t> ref;
    std::vector<uint64_t> keys;
    // Keys share their low bits (their home slot) when home_bits is small.
    const auto make_key = [&]() {
      const uint64_t low = home_bits >= 64 ? rng() : rng() & ((uint64_t{1} << home_bits) - 1);
      return home_bits >= 64 ? low : (rng() << 16) | low;
    };
    for (int op = 0; op < 20000; ++op) {
      const int kind = static_cast<int>(rng() % 3);
      if (kind == 0 || keys.empty()) {
        const uint64_t k = rng() % 50 == 0 ? 0 : make_key();
        const int32_t v = static_cast<int32_t>(rng() % 1000);
        EXPECT_EQ(m.insert(k, v), ref.emplace(k, v).second);
        keys.push_back(k);
      } else {
        const uint64_t k = keys[rng() % keys.size()];
        if (kind == 1) {
          EXPECT_EQ(m.erase(k), ref.erase(k) == 1);
        } else {
          const auto it = ref.find(k);
          const int32_t* got = m.find(k);
          ASSERT_EQ(got != nullptr, it != ref.end());
          if (got) {
            EXPECT_EQ(*got, it->second);
          }
        }
      }
      ASSERT_EQ(m.size(), ref.size());
    }
    for (const auto& [k, v] : ref) {
      ASSERT_NE(m.find(k), nullptr) << k;
      EXPECT_EQ(*m.find(k), v);
    }
  }
}

}  // namespace
}  // namespace kvlab
