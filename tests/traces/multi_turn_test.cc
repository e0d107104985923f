// Multi-turn ShareGPT (workload.multi_turn): a request per turn whose prompt is the
// conversation so far, linked to the turn before (follows, think time), named so that a turn
// shares the previous turn's prompt and answer; the filters never leave a turn without its
// predecessor; and the Engine releases a turn only after the previous one ends.
#include <gtest/gtest.h>

#include <algorithm>

#include "core/block_hash.h"
#include "core/workload.h"
#include "tests/run_test_util.h"
#include "tests/traces/trace_test_util.h"
#include "traces/approx_token_count.h"
#include "traces/sharegpt_json_reader.h"
#include "traces/workload_loader.h"

namespace kvlab {
namespace {

using testing::input_error_message;
using testing::TempTraceDir;

// n one-letter words: n tokens by approx_llama_token_count.
std::string words(int n) {
  std::string text;
  for (int i = 0; i < n; ++i) text += i == 0 ? "w" : " w";
  return text;
}

std::string message(const char* from, int tokens) {
  return std::string("{\"from\": \"") + from + "\", \"value\": \"" + words(tokens) + "\"}";
}

// Conversation A: three turns (40 / 30, 20 / 50, 10 / 5). B: one turn (64 / 16) and an
// unanswered question. C: a single message (fewer than two turns).
std::string fixture() {
  return "[\n{\"id\": \"a\", \"conversations\": [" + message("human", 40) + ", " +
         message("gpt", 30) + ", " + message("human", 20) + ", " + message("gpt", 50) + ", " +
         message("human", 10) + ", " + message("gpt", 5) + "]},\n" +
         "{\"id\": \"b\", \"conversations\": [" + message("human", 64) + ", " + message("gpt", 16) +
         ", " + message("human", 8) + "]},\n" + "{\"id\": \"c\", \"conversations\": [" +
         message("human", 5) + "]}\n]\n";
}

WorkloadConfig multi_turn_config(const std::string& path) {
  WorkloadConfig c;
  c.trace = path;
  c.arrival = "poisson";
  c.rate = 0.5;
  c.multi_turn = true;
  return c;
}

int64_t dropped(const WorkloadReport& r, const std::string& reason) {
  for (const auto& [why, count] : r.dropped_by_format) {
    if (why == reason) return count;
  }
  return -1;
}

// Leading blocks of `before`'s final tokens (prompt and answer) that `after`'s prompt repeats.
int32_t shared_blocks(const RequestSpec& before, const RequestSpec& after, int32_t block_size) {
  const auto a = request_block_hashes(before, before.prompt_len + before.output_len, block_size);
  const auto b = request_block_hashes(after, after.prompt_len, block_size);
  size_t n = 0;
  while (n < std::min(a.size(), b.size()) && a[n] == b[n]) ++n;
  return static_cast<int32_t>(n);
}

TEST(MultiTurn, FixtureWordsCountAsTheirNumber) {
  EXPECT_EQ(approx_llama_token_count(words(40)), 40);
}

TEST(MultiTurn, EachTurnIsARequestWithTheConversationSoFar) {
  TempTraceDir dir;
  const Workload w = load_workload(multi_turn_config(dir.write("conv.json", fixture())));
  ASSERT_EQ(w.requests.size(), 4u);
  const std::vector<int32_t> prompts = {40, 90, 150, 64};
  const std::vector<int32_t> outputs = {30, 50, 5, 16};
  const std::vector<int64_t> follows = {-1, 0, 1, -1};
  for (size_t i = 0; i < w.requests.size(); ++i) {
    SCOPED_TRACE(i);
    const RequestSpec& r = w.requests[i];
    EXPECT_EQ(r.id, static_cast<RequestId>(i));
    EXPECT_EQ(r.prompt_len, prompts[i]);
    EXPECT_EQ(r.output_len, outputs[i]);
    EXPECT_EQ(r.follows, follows[i]);
    EXPECT_EQ(r.think_time_s > 0, follows[i] >= 0);
    EXPECT_EQ(r.named_len, prompts[i] + outputs[i]);  // the answer is named too
  }
  EXPECT_EQ(w.requests[0].source_line, 2);
  EXPECT_EQ(w.requests[2].source_line, 2);
  EXPECT_EQ(w.requests[3].source_line, 3);
  // A later turn holds its conversation's arrival (its place in the order only).
  EXPECT_EQ(w.requests[1].arrival_s, w.requests[0].arrival_s);
  EXPECT_GT(w.requests[3].arrival_s, 0.0);
  EXPECT_EQ(w.report.rows_read, 4);
  EXPECT_EQ(dropped(w.report, kDropFewerThanTwoTurns), 1);
  EXPECT_EQ(dropped(w.report, kDropUnansweredMessage), 1);
}

TEST(MultiTurn, ATurnSharesThePreviousPromptAndAnswer) {
  TempTraceDir dir;
  const Workload w = load_workload(multi_turn_config(dir.write("conv.json", fixture())));
  ASSERT_EQ(w.requests.size(), 4u);
  const auto& r = w.requests;
  EXPECT_EQ(shared_blocks(r[0], r[1], 16), 70 / 16);   // 40 + 30 tokens
  EXPECT_EQ(shared_blocks(r[1], r[2], 16), 140 / 16);  // 90 + 50
  EXPECT_EQ(shared_blocks(r[0], r[1], 7), 70 / 7);     // exact at any block size
  EXPECT_EQ(shared_blocks(r[0], r[3], 16), 0);         // another conversation
  const PrefixReuseBound bound = unbounded_prefix_reuse(w.requests, 16);
  EXPECT_EQ(bound.hit_blocks, 70 / 16 + 140 / 16);
}

TEST(MultiTurn, ASharedSystemPromptStartsEveryTurnOfAConversation) {
  TempTraceDir dir;
  WorkloadConfig c = multi_turn_config(dir.write("conv.json", fixture()));
  c.shared_prefix_len = 50;  // A's first prompt is 40: its system prompt is 40 tokens
  const Workload w = load_workload(c);
  ASSERT_EQ(w.requests.size(), 4u);
  const auto& r = w.requests;
  EXPECT_EQ(r[0].prefix_hash_tokens, 40);
  EXPECT_EQ(r[3].prefix_hash_tokens, 50);
  EXPECT_EQ(shared_blocks(r[0], r[1], 16), 70 / 16);
  EXPECT_EQ(shared_blocks(r[1], r[2], 16), 140 / 16);
  // One group: A and B share the system prompt's whole blocks of A's 40 tokens.
  EXPECT_EQ(shared_blocks(r[0], r[3], 8), 40 / 8);
  c.shared_prefix_groups = 2;
  const Workload two = load_workload(c);
  EXPECT_EQ(shared_blocks(two.requests[0], two.requests[3], 8), 0);
}

TEST(MultiTurn, ThinkTimesAreSeededAndZeroMeansAtOnce) {
  TempTraceDir dir;
  WorkloadConfig c = multi_turn_config(dir.write("conv.json", fixture()));
  const Workload a = load_workload(c);
  EXPECT_EQ(load_workload(c).requests[1].think_time_s, a.requests[1].think_time_s);
  c.seed = 9;
  EXPECT_NE(load_workload(c).requests[1].think_time_s, a.requests[1].think_time_s);
  c.think_time_s = 0;
  for (const RequestSpec& r : load_workload(c).requests) EXPECT_EQ(r.think_time_s, 0.0);
}

TEST(MultiTurn, FiltersDropTheRestOfAConversationAndCountIt) {
  TempTraceDir dir;
  WorkloadConfig c = multi_turn_config(dir.write("conv.json", fixture()));
  c.max_prompt_len = 80;  // A's turn 1 (90) goes, so turn 2 (150) cannot follow it
  Workload w = load_workload(c);
  ASSERT_EQ(w.requests.size(), 2u);
  EXPECT_EQ(w.report.filtered_prompt_len, 1);
  EXPECT_EQ(w.report.filtered_after_turn, 1);
  EXPECT_EQ(w.requests[1].prompt_len, 64);
  EXPECT_EQ(w.requests[1].follows, -1);
  EXPECT_EQ(w.report.rows_read, w.report.num_filtered() + 2);

  c.max_prompt_len = 0;
  c.num_requests = 2;  // A's turns 0 and 1; turn 2 is past the count, B after it
  w = load_workload(c);
  ASSERT_EQ(w.requests.size(), 2u);
  EXPECT_EQ(w.requests[1].follows, 0);
  EXPECT_EQ(w.report.beyond_num_requests, 2);
  EXPECT_EQ(w.report.filtered_after_turn, 0);

  c.num_requests = 0;
  c.max_total_len = 100;  // A's turn 1 (140) goes
  w = load_workload(c);
  EXPECT_EQ(w.report.filtered_total_len, 1);
  EXPECT_EQ(w.report.filtered_after_turn, 1);
  EXPECT_EQ(w.report.rows_read, w.report.num_filtered() + static_cast<int64_t>(w.requests.size()));
}

TEST(MultiTurn, OnlyConversationTracesReadTurns) {
  TempTraceDir dir;
  WorkloadConfig synthetic;
  synthetic.arrival = "burst";
  synthetic.num_requests = 3;
  synthetic.multi_turn = true;
  EXPECT_EQ(input_error_message([&] {
              load_workload(synthetic);
            }).rfind("field 'workload.multi_turn'", 0),
            0u);
  WorkloadConfig csv =
      multi_turn_config(dir.write("l.csv", "num_prefill_tokens,num_decode_tokens\n5,5\n"));
  EXPECT_NE(input_error_message([&] { load_workload(csv); }).find("field 'workload.multi_turn'"),
            std::string::npos);
  WorkloadConfig vllm = multi_turn_config(dir.write("conv.json", fixture()));
  vllm.format = "sharegpt-json-vllm";
  EXPECT_NE(input_error_message([&] { load_workload(vllm); }).find("'sharegpt-json-vllm'"),
            std::string::npos);
  WorkloadConfig bad = multi_turn_config(dir.write("t.json", fixture()));
  bad.think_time_s = -1;
  EXPECT_EQ(
      input_error_message([&] { load_workload(bad); }).rfind("field 'workload.think_time_s'", 0),
      0u);
}

TEST(MultiTurn, AnEmptyAnswerMakesTheConversationOneBadRow) {
  TempTraceDir dir;
  const std::string text = "[{\"conversations\": [" + message("human", 3) + ", " +
                           message("gpt", 3) + ", " + message("human", 3) +
                           ", {\"from\": \"gpt\", \"value\": \"\"}]}, {\"conversations\": [" +
                           message("human", 3) + ", " + message("gpt", 3) + "]}]";
  WorkloadConfig c = multi_turn_config(dir.write("conv.json", text));
  const std::string error = input_error_message([&] { load_workload(c); });
  EXPECT_NE(error.find("conv.json:1: field 'conversations[3].value'"), std::string::npos) << error;
  c.skip_bad_rows = true;
  const Workload w = load_workload(c);
  EXPECT_EQ(w.report.bad_rows_skipped, 1);
  ASSERT_EQ(w.requests.size(), 1u);
  EXPECT_EQ(w.requests[0].prompt_len, 3);
}

// The whole stack: a turn arrives think_time_s after the previous one finished, and with
// prefix caching finds the previous turn's blocks cached.
TEST(MultiTurn, TheEngineReleasesATurnAfterThePreviousFinishes) {
  TempTraceDir dir;
  const std::string path = dir.write("conv.json", fixture());
  const RunResult r = e2e::run_one(
      Config::parse("[workload]\ntrace = " + path +
                        "\nmulti_turn = true\narrival = burst\nthink_time_s = 2\n"
                        "[model]\nname = tiny-llama\n[hardware]\nname = a10g\n"
                        "[memory]\nblock_size = 16\ncapacity_slots = 4096\nprefix_caching = true\n",
                    "multi_turn.ini"));
  ASSERT_EQ(r.requests.size(), 4u);
  std::map<int64_t, const RequestRecord*> by_id;
  for (const RequestRecord& q : r.requests) by_id[q.id] = &q;
  WorkloadConfig c = multi_turn_config(path);
  c.think_time_s = 2;
  const Workload w = load_workload(c);
  for (int64_t turn : {1, 2}) {
    SCOPED_TRACE(turn);
    const RequestRecord& before = *by_id.at(turn - 1);
    const RequestRecord& after = *by_id.at(turn);
    EXPECT_EQ(after.outcome, RequestOutcome::kFinished);
    EXPECT_GE(after.arrival_s, before.finish_s);
    EXPECT_NEAR(after.arrival_s,
                before.finish_s + w.requests[static_cast<size_t>(turn)].think_time_s, 1e-9);
    EXPECT_GE(after.first_scheduled_s, after.arrival_s);
  }
  EXPECT_EQ(by_id.at(1)->cached_prompt_tokens, 70 / 16 * 16);
  EXPECT_EQ(by_id.at(2)->cached_prompt_tokens, 140 / 16 * 16);
  EXPECT_EQ(by_id.at(3)->cached_prompt_tokens, 0);
}

}  // namespace
}  // namespace kvlab
