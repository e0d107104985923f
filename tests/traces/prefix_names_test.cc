// The names the workload loader gives requests' tokens (traces/request_names.h) and the KV
// blocks they make requests share (core/block_hash.h): Mooncake hash_ids, shared system
// prompts.
#include <gtest/gtest.h>

#include <algorithm>

#include "core/block_hash.h"
#include "core/workload.h"
#include "tests/traces/trace_test_util.h"
#include "traces/mooncake_jsonl_reader.h"
#include "traces/workload_loader.h"

namespace kvlab {
namespace {

using testing::input_error_message;
using testing::TempTraceDir;

// Leading full blocks (of `block_size` over each prompt) that a and b share.
int32_t shared_blocks(const RequestSpec& a, const RequestSpec& b, int32_t block_size) {
  const auto ha = request_block_hashes(a, a.prompt_len, block_size);
  const auto hb = request_block_hashes(b, b.prompt_len, block_size);
  const auto end = std::min(ha.size(), hb.size());
  size_t n = 0;
  while (n < end && ha[n] == hb[n]) ++n;
  return static_cast<int32_t>(n);
}

Workload load_mooncake(const std::string& text) {
  TempTraceDir dir;
  WorkloadConfig c;
  c.trace = dir.write("m.jsonl", text);
  return load_workload(c);
}

TEST(MooncakeNames, HashIdsNameThePromptIn512TokenEntries) {
  const Workload w = load_mooncake(
      "{\"timestamp\": 0, \"input_length\": 1200, \"output_length\": 5, \"hash_ids\": [0, 1, 2]}\n"
      "{\"timestamp\": 1, \"input_length\": 2000, \"output_length\": 5, \"hash_ids\": [0, 14]}\n"
      "{\"timestamp\": 2, \"input_length\": 300, \"output_length\": 5}\n");
  ASSERT_EQ(w.requests.size(), 3u);
  EXPECT_EQ(kMooncakeHashBlockTokens, 512);
  const RequestSpec& full = w.requests[0];
  EXPECT_EQ(full.prefix_hashes, (std::vector<uint64_t>{0, 1, 2}));
  EXPECT_EQ(full.prefix_hash_tokens, 512);
  EXPECT_EQ(full.named_len, 1200);  // the last id covers a partial block: the prompt's end
  // Fewer ids than the prompt needs: only what they cover is named, the rest is its own.
  EXPECT_EQ(w.requests[1].named_len, 1024);
  EXPECT_EQ(w.requests[2].named_len, 0);
  EXPECT_TRUE(w.requests[2].prefix_hashes.empty());
}

TEST(MooncakeNames, RowsSharingTwoIdsShareExactlyTheirBlocks) {
  const Workload w = load_mooncake(
      "{\"timestamp\": 0, \"input_length\": 1500, \"output_length\": 5, \"hash_ids\": [7, 8, 9]}\n"
      "{\"timestamp\": 1, \"input_length\": 1500, \"output_length\": 5, \"hash_ids\": [7, 8, 10]}\n"
      "{\"timestamp\": 2, \"input_length\": 1500, \"output_length\": 5, \"hash_ids\": [6, 8, "
      "9]}\n");
  ASSERT_EQ(w.requests.size(), 3u);
  const RequestSpec& a = w.requests[0];
  const RequestSpec& b = w.requests[1];
  const RequestSpec& c = w.requests[2];
  EXPECT_EQ(shared_blocks(a, b, 16), 2 * 512 / 16);
  EXPECT_EQ(shared_blocks(a, c, 16), 0);  // the first id differs: nothing after it is shared
  // 48 does not divide 512: block 21 ([1008, 1056)) straddles ids 1 and 2, so it differs.
  EXPECT_EQ(shared_blocks(a, b, 48), 1024 / 48);
  // Blocks wider than an id: block 0 of 1024 tokens is ids 0 and 1, shared; block 1 is not.
  EXPECT_EQ(shared_blocks(a, b, 1024), 1);
  EXPECT_EQ(shared_blocks(a, b, 2048), 0);  // no full block in the prompt
}

WorkloadConfig system_prompt_config(int32_t shared_len, int32_t groups) {
  WorkloadConfig c;
  c.arrival = "poisson";
  c.rate = 10;
  c.num_requests = 6;
  c.prompt_len = "300";
  c.output_len = "20";
  c.shared_prefix_len = shared_len;
  c.shared_prefix_groups = groups;
  return c;
}

TEST(SystemPromptNames, SameGroupSharesTheWholeBlocksOfTheSystemPrompt) {
  const Workload w = load_workload(system_prompt_config(100, 2));
  ASSERT_EQ(w.requests.size(), 6u);
  for (const RequestSpec& r : w.requests) {
    SCOPED_TRACE(r.id);
    EXPECT_EQ(r.prefix_hashes.size(), 1u);
    EXPECT_EQ(r.prefix_hash_tokens, 100);
    EXPECT_EQ(r.named_len, 100);
  }
  // Groups by id: 0, 2, 4 and 1, 3, 5.
  EXPECT_EQ(shared_blocks(w.requests[0], w.requests[2], 16), 100 / 16);
  EXPECT_EQ(shared_blocks(w.requests[1], w.requests[5], 16), 100 / 16);
  EXPECT_EQ(shared_blocks(w.requests[0], w.requests[1], 16), 0);
  EXPECT_EQ(shared_blocks(w.requests[3], w.requests[4], 16), 0);
  // Block 6 ([96, 112)) holds the prompt's own tokens after the system prompt: never shared.
  EXPECT_EQ(shared_blocks(w.requests[0], w.requests[2], 4), 25);
}

TEST(SystemPromptNames, OneGroupIsOnePromptAndTheSeedNamesIt) {
  const Workload w = load_workload(system_prompt_config(64, 1));
  for (size_t i = 1; i < w.requests.size(); ++i) {
    EXPECT_EQ(shared_blocks(w.requests[0], w.requests[i], 16), 4);
  }
  WorkloadConfig other = system_prompt_config(64, 1);
  other.seed = 1;
  EXPECT_NE(load_workload(other).requests[0].prefix_hashes, w.requests[0].prefix_hashes);
  EXPECT_TRUE(load_workload(system_prompt_config(0, 1)).requests[0].prefix_hashes.empty());
}

TEST(SystemPromptNames, AShortPromptHoldsTheSystemPromptsBeginning) {
  TempTraceDir dir;
  WorkloadConfig c;
  c.trace = dir.write("l.csv", "num_prefill_tokens,num_decode_tokens\n40,5\n400,5\n");
  c.arrival = "burst";
  c.shared_prefix_len = 200;
  const Workload w = load_workload(c);
  ASSERT_EQ(w.requests.size(), 2u);
  EXPECT_EQ(w.requests[0].named_len, 40);
  EXPECT_EQ(w.requests[1].named_len, 200);
  EXPECT_EQ(shared_blocks(w.requests[0], w.requests[1], 8), 5);
}

TEST(SystemPromptNames, RefusedForATraceWithItsOwnHashIds) {
  TempTraceDir dir;
  WorkloadConfig c;
  c.trace = dir.write("m.jsonl",
                      "{\"timestamp\": 0, \"input_length\": 10, \"output_length\": 5}\n"
                      "{\"timestamp\": 1, \"input_length\": 10, \"output_length\": 5, "
                      "\"hash_ids\": [3]}\n");
  c.shared_prefix_len = 16;
  const std::string message = input_error_message([&] { load_workload(c); });
  EXPECT_NE(message.find("m.jsonl:2: field 'workload.shared_prefix_len'"), std::string::npos)
      << message;
  EXPECT_NE(message.find("hash_ids"), std::string::npos) << message;
}

}  // namespace
}  // namespace kvlab
