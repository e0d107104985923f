// Golden tests for sharegpt-json and sharegpt-json-vllm: first turn = prompt, second =
// completion, lengths from approx_llama_token_count, entries with < 2 turns counted, vLLM's
// pruning opt-in and counted, entry line numbers in pretty-printed files.
#include <gtest/gtest.h>

#include "tests/traces/trace_test_util.h"
#include "traces/approx_token_count.h"
#include "traces/read_trace.h"
#include "traces/sharegpt_json_reader.h"

namespace kvlab {
namespace {

using testing::TempTraceDir;

std::string words(int n) {
  std::string text;
  for (int i = 0; i < n; ++i) text += i == 0 ? "word" : " word";
  return text;
}

std::string entry(const std::string& prompt, const std::string& completion,
                  const std::string& third = "") {
  std::string out = "{\"id\": \"x\", \"conversations\": [{\"from\": \"human\", \"value\": \"" +
                    prompt + "\"}, {\"from\": \"gpt\", \"value\": \"" + completion + "\"}";
  if (!third.empty()) out += ", {\"from\": \"human\", \"value\": \"" + third + "\"}";
  return out + "]}";
}

int64_t drop_count(const TraceReadResult& result, const std::string& reason) {
  for (const auto& drop : result.dropped) {
    if (drop.reason == reason) return drop.count;
  }
  ADD_FAILURE() << "no drop reason " << reason;
  return -1;
}

TEST(ShareGptJson, FirstTwoTurnsBecomePromptAndCompletion) {
  TempTraceDir dir;
  const std::string text =
      "[\n"
      "  {\n"
      "    \"id\": \"a\",\n"
      "    \"conversations\": [\n"
      "      {\"from\": \"human\", \"value\": \"What is a KV cache?\\nExplain.\"},\n"
      "      {\"from\": \"gpt\", \"value\": \"It stores keys and values.\"},\n"
      "      {\"from\": \"human\", \"value\": \"ignored third turn\"}\n"
      "    ]\n"
      "  },\n"
      "  {\"id\": \"b\", \"conversations\": [{\"from\": \"human\", \"value\": \"only one\"}]},\n"
      "  {\"id\": \"c\", \"conversations\": []},\n"
      "  " +
      entry("Say \\\"hi\\\" [in brackets] {braces}", "hi") +
      "\n"
      "]\n";
  const auto path = dir.write("conv.json", text);
  const TraceReadResult result = read_trace(path, "sharegpt-json", {});
  EXPECT_EQ(result.format, "sharegpt-json");
  EXPECT_FALSE(result.data.has_timestamps);
  ASSERT_EQ(result.data.rows.size(), 2u);
  // "What is a KV cache?\nExplain.": What is a KV cache(5) ?(1) \n(1) Explain(2) .(1)
  EXPECT_EQ(result.data.rows[0].prompt_len,
            approx_llama_token_count("What is a KV cache?\nExplain."));
  EXPECT_EQ(result.data.rows[0].prompt_len, 10);
  EXPECT_EQ(result.data.rows[0].output_len, 6);  // It stores keys and values(5) .(1)
  EXPECT_EQ(result.data.rows[0].line, 2);
  EXPECT_DOUBLE_EQ(result.data.rows[0].timestamp_s, -1.0);
  EXPECT_EQ(result.data.rows[1].prompt_len,
            approx_llama_token_count("Say \"hi\" [in brackets] {braces}"));
  EXPECT_EQ(result.data.rows[1].output_len, 1);
  EXPECT_EQ(result.data.rows[1].line, 12);
  EXPECT_EQ(drop_count(result, kDropFewerThanTwoTurns), 2);
  EXPECT_EQ(result.dropped.size(), 1u);  // no vLLM pruning unless asked
  EXPECT_EQ(result.data.bad_rows_skipped, 0);
}

TEST(ShareGptJson, VllmFilterPrunesShortAndLongEntriesAndCountsThem) {
  TempTraceDir dir;
  // A JSON array of entries, appended one by one (GCC 12 at -O3 warns falsely, -Wrestrict, on a
  // long chain of "literal" + std::string).
  std::string text = "[";
  for (const auto& [prompt, output] : std::vector<std::pair<std::string, std::string>>{
           {words(10), words(10)},      // kept
           {words(3), words(10)},       // prompt < 4
           {words(10), words(3)},       // output < 4
           {words(1025), words(10)},    // prompt > 1024
           {words(1024), words(1024)},  // total 2048: kept
           {words(1024), words(1025)},  // total > 2048
           {words(4), words(4)},        // kept (4 is enough)
           {"", ""}}) {                 // < 4: pruned, not bad
    if (text.size() > 1) text += ",\n";
    text += entry(prompt, output);
  }
  text += "]";
  const auto path = dir.write("conv.json", text);
  const TraceReadResult result = read_trace(path, "sharegpt-json-vllm", {});
  ASSERT_EQ(result.data.rows.size(), 3u);
  EXPECT_EQ(result.data.rows[0].prompt_len, 10);
  EXPECT_EQ(result.data.rows[1].prompt_len, 1024);
  EXPECT_EQ(result.data.rows[1].output_len, 1024);
  EXPECT_EQ(result.data.rows[2].line, 7);
  EXPECT_EQ(drop_count(result, kDropFewerThanTwoTurns), 0);
  EXPECT_EQ(drop_count(result, kDropVllmTooShort), 3);
  EXPECT_EQ(drop_count(result, kDropVllmTooLong), 2);
  EXPECT_EQ(result.num_dropped(), 5);

  // Without the filter the same file keeps every entry but the empty one, which is malformed.
  const TraceReadResult plain = read_trace(path, "sharegpt-json", {true});
  EXPECT_EQ(plain.data.rows.size(), 7u);
  EXPECT_EQ(plain.data.bad_rows_skipped, 1);
}

TEST(ShareGptJson, AutoDetectionNeverPicksTheVllmVariant) {
  TempTraceDir dir;
  std::string text = "[";
  text += entry("a b c", "d e f");
  text += "]";
  const auto path = dir.write("conv.json", text);
  EXPECT_EQ(read_trace(path, "auto", {}).format, "sharegpt-json");
}

}  // namespace
}  // namespace kvlab
