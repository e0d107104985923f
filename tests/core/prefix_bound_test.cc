// unbounded_prefix_reuse against the definition, computed block by block from
// request_block_hashes (every block of each request's computed tokens remembered, each prompt's
// leading remembered blocks counted), on random named workloads: prefixes drawn from a small
// tree of names so requests share some entries, partial last entries, names past the prompt
// (a conversation's answer), some requests with token ids, and block sizes that tile the entry
// (the per-entry walk) or do not (the per-block walk).
#include <gtest/gtest.h>

#include <random>
#include <unordered_set>
#include <vector>

#include "core/block_hash.h"
#include "core/request.h"

namespace kvlab {
namespace {

PrefixReuseBound by_definition(const std::vector<RequestSpec>& requests, int32_t block_size) {
  PrefixReuseBound bound;
  std::unordered_set<uint64_t> seen;
  for (const RequestSpec& r : requests) {
    bound.prompt_tokens += r.prompt_len;
    const int32_t lookable = max_cached_blocks(r.prompt_len, 0, block_size);
    bound.prompt_blocks += lookable;
    // The first sample's computed tokens (its last answer token is never run); ids cover the
    // prompt only.
    const int32_t len = r.prompt_tokens.empty() ? r.prompt_len + r.output_len - 1 : r.prompt_len;
    const std::vector<uint64_t> hashes = request_block_hashes(r, len, block_size);
    int32_t hits = 0;
    while (hits < lookable && hits < static_cast<int32_t>(hashes.size()) &&
           seen.count(hashes[static_cast<size_t>(hits)]) != 0) {
      ++hits;
    }
    bound.hit_blocks += hits;
    bound.hit_tokens += int64_t{hits} * block_size;
    seen.insert(hashes.begin(), hashes.end());
  }
  return bound;
}

std::vector<RequestSpec> random_workload(uint64_t seed, int32_t unit, bool with_ids) {
  std::mt19937_64 rng(seed);
  std::vector<RequestSpec> out;
  for (int i = 0; i < 300; ++i) {
    RequestSpec r;
    r.id = i;
    r.prompt_len = 1 + static_cast<int32_t>(rng() % (6 * static_cast<uint64_t>(unit)));
    r.output_len = 1 + static_cast<int32_t>(rng() % 200);
    if (with_ids && rng() % 5 == 0) {
      for (int32_t t = 0; t < r.prompt_len; ++t) r.prompt_tokens.push_back(static_cast<int32_t>(rng() % 3));
    } else {
      r.prefix_hash_tokens = unit;
      // Names past the prompt sometimes (a turn's answer is named for the next turn).
      const int32_t named = rng() % 3 == 0 ? r.prompt_len + r.output_len : r.prompt_len;
      r.named_len = named - static_cast<int32_t>(rng() % 2) * static_cast<int32_t>(rng() % 40);
      const int32_t entries = (std::max(1, r.named_len) + unit - 1) / unit;
      // Entry e is one of 2 names per level below a shared path, then unique.
      const int shared_levels = static_cast<int>(rng() % 5);
      for (int32_t e = 0; e < entries; ++e) {
        r.prefix_hashes.push_back(e < shared_levels ? (uint64_t{1} << 32) * (e + 1) + rng() % 2
                                                    : rng());
      }
    }
    out.push_back(std::move(r));
  }
  return out;
}

TEST(PrefixReuseBound, EqualsTheBlockByBlockDefinition) {
  for (const int32_t unit : {64, 512}) {
    for (const int32_t block_size : {1, 16, 48, 64}) {
      for (const bool with_ids : {false, true}) {
        for (uint64_t seed = 1; seed <= 3; ++seed) {
          const auto requests = random_workload(seed * 977 + unit + block_size, unit, with_ids);
          const PrefixReuseBound want = by_definition(requests, block_size);
          const PrefixReuseBound got = unbounded_prefix_reuse(requests, block_size);
          SCOPED_TRACE(::testing::Message() << "unit " << unit << " block " << block_size
                                            << " ids " << with_ids << " seed " << seed);
          EXPECT_GT(want.hit_blocks, 0);
          EXPECT_EQ(got.hit_blocks, want.hit_blocks);
          EXPECT_EQ(got.hit_tokens, want.hit_tokens);
          EXPECT_EQ(got.prompt_blocks, want.prompt_blocks);
          EXPECT_EQ(got.prompt_tokens, want.prompt_tokens);
        }
      }
    }
  }
}

}  // namespace
}  // namespace kvlab
