// Every reader's handling of malformed input: by default an InputError whose message starts
// with exactly "FILE:LINE: field 'FIELD': "; with skip_bad_rows the row is counted, its
// message kept, and the good rows around it are read.
#include <gtest/gtest.h>

#include "core/errors.h"
#include "tests/traces/trace_test_util.h"
#include "traces/bad_rows.h"
#include "traces/json_fields.h"

namespace kvlab {
namespace {

using testing::input_error_message;
using testing::read_with;
using testing::TempTraceDir;

struct BadCase {
  const char* label;
  const char* format;
  const char* file_name;
  const char* content;
  int64_t line;
  const char* field;
  const char* what;   // a substring of the rest of the message
  int64_t good_rows;  // rows read when skipping
};

constexpr const char* kLengthHeader = "num_prefill_tokens,num_decode_tokens\n";
constexpr const char* kTimedHeader = "arrived_at,num_prefill_tokens,num_decode_tokens\n";
constexpr const char* kAzureHeader = "TIMESTAMP,ContextTokens,GeneratedTokens\n";

std::string cat(const char* a, const char* b) { return std::string(a) + b; }

const std::vector<BadCase>& bad_cases() {
  static const std::vector<BadCase> cases = {
      {"length_missing_column", "length-csv", "t.csv",
       "num_prefill_tokens,num_decode_tokens\n1,2\n5\n3,4\n", 3, "num_decode_tokens", "missing", 2},
      {"length_negative", "length-csv", "t.csv",
       "num_prefill_tokens,num_decode_tokens\n1,2\n-3,5\n", 3, "num_prefill_tokens",
       "negative length '-3'", 1},
      {"length_non_numeric", "length-csv", "t.csv",
       "num_prefill_tokens,num_decode_tokens\n1,2\n7,abc\n", 3, "num_decode_tokens",
       "not a number: 'abc'", 1},
      {"length_zero_prompt", "length-csv", "t.csv",
       "num_prefill_tokens,num_decode_tokens\n0,5\n1,2\n", 2, "num_prefill_tokens",
       "must be >= 1, got 0", 1},
      {"length_zero_output", "length-csv", "t.csv",
       "num_prefill_tokens,num_decode_tokens\n4,0\n1,2\n", 2, "num_decode_tokens",
       "must be >= 1, got 0", 1},
      {"length_fraction", "length-csv", "t.csv",
       "num_prefill_tokens,num_decode_tokens\n1.5,2\n1,2\n", 2, "num_prefill_tokens",
       "not a whole number", 1},
      {"length_empty_field", "length-csv", "t.csv",
       "num_prefill_tokens,num_decode_tokens\n,2\n1,2\n", 2, "num_prefill_tokens", "empty value",
       1},
      {"length_too_large", "length-csv", "t.csv",
       "num_prefill_tokens,num_decode_tokens\n1,2\n3000000000,2\n", 3, "num_prefill_tokens",
       "too large", 1},
      // RFC 4180 quoting (issue 15, item 4): refused naming the column, never shifted.
      {"length_quote_in_unquoted_field", "length-csv", "t.csv",
       "num_prefill_tokens,num_decode_tokens\n1,2\n3,4\"x\n5,6\n", 3, "num_decode_tokens",
       "a '\"' inside an unquoted field", 2},
      {"length_text_after_closing_quote", "length-csv", "t.csv",
       "num_prefill_tokens,num_decode_tokens,note\n1,2,\"ok\"\n3,4,\"a\"b\n5,6,x\n", 3, "column 3",
       "text after the closing quote", 2},
      {"length_unclosed_quote", "length-csv", "t.csv",
       "num_prefill_tokens,num_decode_tokens\n1,2\n\"3,4\n5,6\n", 3, "num_prefill_tokens",
       "the file ends inside a quoted field", 1},
      {"timed_bad_time", "timed-csv", "t.csv",
       "arrived_at,num_prefill_tokens,num_decode_tokens\n0,1,2\nsoon,1,2\n", 3, "arrived_at",
       "not a number: 'soon'", 1},
      {"timed_negative_time", "timed-csv", "t.csv",
       "arrived_at,num_prefill_tokens,num_decode_tokens\n-1,1,2\n0,1,2\n", 2, "arrived_at",
       "negative time", 1},
      {"azure_bad_timestamp", "azure-csv", "t.csv",
       "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.6805900,1,2\n"
       "2023-11-16 25:15:46.6805900,1,2\n",
       3, "TIMESTAMP", "bad timestamp '2023-11-16 25:15:46.6805900'", 1},
      {"azure_missing_output", "azure-csv", "t.csv",
       "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46,1\n2023-11-16 18:15:47,1,2\n",
       2, "GeneratedTokens", "missing", 1},
      {"mooncake_truncated", "mooncake-jsonl", "t.jsonl",
       "{\"timestamp\": 0, \"input_length\": 5, \"output_length\": 6}\n{\"timestamp\": 3, "
       "\"input_le",
       2, "json", "malformed JSON", 1},
      {"mooncake_missing_input", "mooncake-jsonl", "t.jsonl",
       "{\"timestamp\": 0, \"output_length\": 6}\n{\"timestamp\": 0, \"input_length\": 5, "
       "\"output_length\": 6}\n",
       1, "input_length", "missing", 1},
      {"mooncake_negative_output", "mooncake-jsonl", "t.jsonl",
       "{\"timestamp\": 0, \"input_length\": 5, \"output_length\": 6}\n\n"
       "{\"timestamp\": 0, \"input_length\": 5, \"output_length\": -6}\n",
       3, "output_length", "negative length", 1},
      {"mooncake_string_length", "mooncake-jsonl", "t.jsonl",
       "{\"timestamp\": 0, \"input_length\": \"5\", \"output_length\": 6}\n", 1, "input_length",
       "not a number: \"5\"", 0},
      {"mooncake_zero_prompt", "mooncake-jsonl", "t.jsonl",
       "{\"timestamp\": 0, \"input_length\": 0, \"output_length\": 6}\n", 1, "input_length",
       "must be >= 1, got 0", 0},
      {"mooncake_bad_timestamp", "mooncake-jsonl", "t.jsonl",
       "{\"timestamp\": \"noon\", \"input_length\": 5, \"output_length\": 6}\n", 1, "timestamp",
       "not a number", 0},
      {"mooncake_negative_timestamp", "mooncake-jsonl", "t.jsonl",
       "{\"timestamp\": -5, \"input_length\": 5, \"output_length\": 6}\n", 1, "timestamp",
       "negative time", 0},
      {"mooncake_bad_hash_ids", "mooncake-jsonl", "t.jsonl",
       "{\"timestamp\": 0, \"input_length\": 5, \"output_length\": 6, \"hash_ids\": [1, -2]}\n", 1,
       "hash_ids", "element 1 is not an integer >= 0", 0},
      {"mooncake_not_object", "mooncake-jsonl", "t.jsonl", "[1, 2, 3]\n", 1, "json",
       "expected a JSON object", 0},
      {"sharegpt_truncated", "sharegpt-json", "t.json",
       "[\n {\"id\": \"a\", \"conversations\": [{\"from\": \"human\", \"value\": \"hi there\"},\n"
       "   {\"from\": \"gpt\", \"value\": \"hello you\"}]},\n {\"id\": \"b\", \"conversa",
       4, "json", "truncated JSON", 1},
      {"sharegpt_missing_conversations", "sharegpt-json", "t.json",
       "[{\"id\": \"a\"},\n {\"id\": \"b\", \"conversations\": [{\"value\": \"hi there\"}, "
       "{\"value\": \"yes\"}]}]\n",
       1, "conversations", "missing", 1},
      {"sharegpt_value_not_string", "sharegpt-json", "t.json",
       "[\n{\"conversations\": [{\"value\": \"hi\"}, {\"value\": 12}]}\n]\n", 2,
       "conversations[1].value", "not a string: 12", 0},
      {"sharegpt_empty_prompt", "sharegpt-json", "t.json",
       "[{\"conversations\": [{\"value\": \"\"}, {\"value\": \"ok\"}]}]", 1,
       "conversations[0].value", "empty prompt", 0},
      {"sharegpt_bad_json_inside_entry", "sharegpt-json", "t.json",
       "[\n{\"conversations\": [{\"value\": \"hi\"}, {\"value\": \"ok\"}]},\n{\"conversations\":\n"
       "  [{\"value\": \"hi\"} {\"value\": \"ok\"}]}\n]\n",
       4, "json", "malformed JSON", 1},
  };
  return cases;
}

class MalformedRow : public ::testing::TestWithParam<BadCase> {};

TEST_P(MalformedRow, FailsNamingFileLineAndField) {
  const BadCase& c = GetParam();
  TempTraceDir dir;
  const auto path = dir.write(c.file_name, c.content);
  const std::string message = input_error_message([&] { read_with(c.format, path); });
  const std::string prefix = path + ":" + std::to_string(c.line) + ": field '" + c.field + "': ";
  EXPECT_EQ(message.rfind(prefix, 0), 0u) << message << "\nexpected prefix: " << prefix;
  EXPECT_NE(message.find(c.what), std::string::npos) << message;
}

TEST_P(MalformedRow, CarriesFileLineAndFieldAsFields) {
  const BadCase& c = GetParam();
  TempTraceDir dir;
  const auto path = dir.write(c.file_name, c.content);
  try {
    read_with(c.format, path);
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    EXPECT_EQ(e.source(), path);
    EXPECT_EQ(e.line(), c.line);
    EXPECT_EQ(e.field(), c.field);
    EXPECT_NE(e.reason().find(c.what), std::string::npos) << e.reason();
    EXPECT_EQ(e.reason().find(path), std::string::npos) << e.reason();  // not in the reason too
  }
}

TEST(RowError, IsAnInputErrorThatBadRowsLocates) {
  const RowError row("num_decode_tokens", "not a number: 'abc'");
  EXPECT_EQ(row.field(), "num_decode_tokens");
  EXPECT_EQ(row.reason(), "not a number: 'abc'");
  EXPECT_FALSE(row.has_location());
  BadRows bad_rows("t.csv", TraceReadOptions{});
  try {
    bad_rows.report(3, row);
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(), "t.csv:3: field 'num_decode_tokens': not a number: 'abc'");
    EXPECT_EQ(e.line(), 3);
  }
}

TEST_P(MalformedRow, SkipModeCountsTheRowAndKeepsTheRest) {
  const BadCase& c = GetParam();
  TempTraceDir dir;
  const auto path = dir.write(c.file_name, c.content);
  const TraceData data = read_with(c.format, path, /*skip_bad_rows=*/true);
  EXPECT_EQ(data.bad_rows_skipped, 1);
  EXPECT_EQ(static_cast<int64_t>(data.rows.size()), c.good_rows);
  ASSERT_EQ(data.bad_row_messages.size(), 1u);
  const std::string prefix = path + ":" + std::to_string(c.line) + ": field '" + c.field + "': ";
  EXPECT_EQ(data.bad_row_messages[0].rfind(prefix, 0), 0u) << data.bad_row_messages[0];
}

INSTANTIATE_TEST_SUITE_P(Readers, MalformedRow, ::testing::ValuesIn(bad_cases()),
                         [](const auto& info) { return std::string(info.param.label); });

// Whole-file problems: nothing to skip to, so they fail in skip mode too.
struct FileCase {
  const char* label;
  const char* format;
  const char* file_name;
  const char* content;
  const char* expected_prefix_after_path;  // ":LINE: field 'F': "
  const char* what;
};

class MalformedFile : public ::testing::TestWithParam<FileCase> {};

TEST_P(MalformedFile, FailsEvenWhenSkippingBadRows) {
  const FileCase& c = GetParam();
  TempTraceDir dir;
  const auto path = dir.write(c.file_name, c.content);
  for (bool skip : {false, true}) {
    const std::string message = input_error_message([&] { read_with(c.format, path, skip); });
    EXPECT_EQ(message.rfind(path + c.expected_prefix_after_path, 0), 0u) << message;
    EXPECT_NE(message.find(c.what), std::string::npos) << message;
  }
}

const std::vector<FileCase>& file_cases() {
  static const std::vector<FileCase> cases = {

      FileCase{"length_empty", "length-csv", "t.csv", "", ":1: field 'header': ", "empty file"},
      FileCase{"length_header_only", "length-csv", "t.csv", kLengthHeader, ":2: ", "no data rows"},
      FileCase{"length_header_missing_column", "length-csv", "t.csv",
               "num_prefill_tokens,num_total_tokens\n1,2\n",
               ":1: field 'num_decode_tokens': ", "column missing from the header"},
      FileCase{"timed_header_only", "timed-csv", "t.csv", kTimedHeader, ":2: ", "no data rows"},
      FileCase{"length_header_bad_quoting", "length-csv", "t.csv",
               "num_prefill_tokens,\"num_decode\"_tokens\n1,2\n",
               ":1: field 'header': ", "malformed header, column 2: text after the closing quote"},
      FileCase{"azure_header_missing_timestamp", "azure-csv", "t.csv",
               "ContextTokens,GeneratedTokens\n1,2\n", ":1: field 'TIMESTAMP': ", "column missing"},
      FileCase{"azure_empty", "azure-csv", "t.csv", "\n", ":1: field 'header': ", "empty file"},
      FileCase{"mooncake_empty", "mooncake-jsonl", "t.jsonl", "\n\n",
               ":1: field 'json': ", "empty file"},
      FileCase{"sharegpt_empty", "sharegpt-json", "t.json", "  \n",
               ":1: field 'json': ", "empty file"},
      FileCase{"sharegpt_not_a_list", "sharegpt-json", "t.json", "\n{\"conversations\": []}",
               ":2: field 'json': ", "expected a JSON list"},
      FileCase{"sharegpt_empty_list", "sharegpt-json", "t.json", "[\n]\n",
               ":2: field 'json': ", "no conversations"},
      FileCase{"sharegpt_text_after_list", "sharegpt-json", "t.json",
               "[{\"conversations\": [{\"value\": \"a b\"}, {\"value\": \"c d\"}]}]\nxyz",
               ":2: field 'json': ", "unexpected text"}};
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Readers, MalformedFile, ::testing::ValuesIn(file_cases()),
                         [](const auto& info) { return std::string(info.param.label); });

TEST(MissingFile, EveryReaderNamesIt) {
  TempTraceDir dir;
  const std::string path = dir.path("nope.csv");
  for (const auto& format : trace_readers().names()) {
    SCOPED_TRACE(format);
    const std::string message =
        input_error_message([&] { read_with(format, path, false, "prompt:p, output:o"); });
    EXPECT_EQ(message, path + ": trace file does not exist");
  }
}

TEST(SkipMode, CountsEveryBadRowAndKeepsTheFirstTenMessages) {
  TempTraceDir dir;
  std::string content = kAzureHeader;
  for (int i = 0; i < 15; ++i) content += "2023-11-16 18:00:00,x,1\n2023-11-16 18:00:01,1,1\n";
  const auto path = dir.write("azure.csv", content);
  const TraceData data = read_with("azure-csv", path, true);
  EXPECT_EQ(data.bad_rows_skipped, 15);
  EXPECT_EQ(data.rows.size(), 15u);
  ASSERT_EQ(data.bad_row_messages.size(), BadRows::kMaxMessages);
  EXPECT_EQ(data.bad_row_messages[0].rfind(path + ":2: field 'ContextTokens': ", 0), 0u);
  EXPECT_EQ(data.bad_row_messages[9].rfind(path + ":20: field 'ContextTokens': ", 0), 0u);
  // Timestamps of the kept rows are rebased among themselves.
  EXPECT_DOUBLE_EQ(data.rows[0].timestamp_s, 0.0);
}

TEST(SkipMode, AllRowsBadLeavesNoRowsButNoError) {
  TempTraceDir dir;
  const auto path = dir.write("t.csv", cat(kLengthHeader, "x,1\n0,1\n"));
  const TraceData data = read_with("length-csv", path, true);
  EXPECT_TRUE(data.rows.empty());
  EXPECT_EQ(data.bad_rows_skipped, 2);
}

// A '}' at the top level of a ShareGPT list breaks the file's structure, not one entry: it is
// an error even when skipping bad rows (it once looped forever: the list scanner returned an
// empty entry without advancing). Issue 15, item 1.
TEST(SkipMode, AStrayBraceInAShareGptListIsAnErrorNotAHang) {
  TempTraceDir dir;
  for (const char* content : {"[1}]", "[\n {\"conversations\": []},\n }\n]"}) {
    const auto path = dir.write("stray.json", content);
    for (bool skip : {false, true}) {
      const std::string message =
          input_error_message([&] { read_with("sharegpt-json", path, skip); });
      EXPECT_NE(message.find("field 'json': '}' closes nothing at the list's top level"),
                std::string::npos)
          << content << ": " << message;
    }
  }
}

// A JSON number beyond double's range (1e400), even in a field kvlab ignores, is a bad row
// naming its line, skippable; it once escaped as "internal error". Issue 15, item 3.
TEST(SkipMode, AJsonNumberOutOfRangeIsABadRow) {
  TempTraceDir dir;
  const auto jsonl =
      dir.write("big.jsonl",
                "{\"timestamp\": 0, \"input_length\": 10, \"output_length\": 5}\n"
                "{\"timestamp\": 1, \"input_length\": 10, \"output_length\": 5, \"x\": 1e400}\n");
  EXPECT_EQ(input_error_message([&] { read_with("mooncake-jsonl", jsonl); }),
            jsonl + ":2: field 'json': a number out of range (beyond +-1.8e308)");
  EXPECT_EQ(read_with("mooncake-jsonl", jsonl, true).rows.size(), 1u);

  const std::string turns =
      "\"conversations\": [{\"from\": \"human\", \"value\": \"hello there\"}, "
      "{\"from\": \"gpt\", \"value\": \"hi\"}]";
  const auto json = dir.write("big.json", "[\n{" + turns + "},\n{" + turns + ", \"x\": -1e400}\n]");
  EXPECT_EQ(input_error_message([&] { read_with("sharegpt-json", json); }),
            json + ":3: field 'json': a number out of range (beyond +-1.8e308)");
  const TraceData skipped = read_with("sharegpt-json", json, true);
  EXPECT_EQ(skipped.rows.size(), 1u);
  EXPECT_EQ(skipped.bad_rows_skipped, 1);
}

// A value nested 100,000 levels deep, in a field kvlab reads or in one it ignores, is a bad row
// naming its line; it once overflowed the stack while its error message was formatted.
// Issue 15, item 2.
TEST(SkipMode, AJsonValueNestedTooDeepIsABadRow) {
  const int kLevels = 100'000;
  const std::string arrays = std::string(kLevels, '[') + std::string(kLevels, ']');
  std::string objects;
  for (int i = 0; i < kLevels; ++i) objects += "{\"a\":";
  objects += "1" + std::string(kLevels, '}');
  const std::string too_deep = "nested deeper than " + std::to_string(kMaxJsonDepth);
  TempTraceDir dir;
  const std::string good_line = "{\"timestamp\": 0, \"input_length\": 10, \"output_length\": 5}\n";
  for (const std::string& deep : {arrays, objects}) {
    for (const std::string& row :
         {"{\"timestamp\": 1, \"input_length\": " + deep + ", \"output_length\": 5}\n",
          "{\"timestamp\": 1, \"input_length\": 3, \"output_length\": 5, \"x\": " + deep + "}\n"}) {
      const auto jsonl = dir.write("deep.jsonl", good_line + row);
      const std::string message = input_error_message([&] { read_with("mooncake-jsonl", jsonl); });
      EXPECT_EQ(message.rfind(jsonl + ":2: field 'json': malformed JSON: ", 0), 0u) << message;
      EXPECT_NE(message.find(too_deep), std::string::npos) << message;
      EXPECT_EQ(read_with("mooncake-jsonl", jsonl, true).rows.size(), 1u);
    }
    const std::string turns =
        "\"conversations\": [{\"from\": \"human\", \"value\": \"hello there\"}, "
        "{\"from\": \"gpt\", \"value\": \"hi\"}]";
    for (const std::string& entry :
         {"{\"conversations\": [{\"value\": \"a b\"}, {\"value\": " + deep + "}]}",
          "{\"conversations\": " + deep + "}", "{" + turns + ", \"x\": " + deep + "}", deep}) {
      const auto json = dir.write("deep.json", "[\n{" + turns + "},\n\n" + entry + "\n]");
      const std::string message = input_error_message([&] { read_with("sharegpt-json", json); });
      EXPECT_EQ(message.rfind(json + ":4: field 'json': malformed JSON: ", 0), 0u) << message;
      EXPECT_NE(message.find(too_deep), std::string::npos) << message;
      EXPECT_EQ(read_with("sharegpt-json", json, true).rows.size(), 1u);
    }
  }
}

// Nesting up to the limit is read as before.
TEST(SkipMode, JsonNestedToTheLimitIsRead) {
  const int inner = kMaxJsonDepth - 1;  // the row's object is the first level
  const std::string deep = std::string(inner, '[') + std::string(inner, ']');
  TempTraceDir dir;
  const auto jsonl = dir.write(
      "deep.jsonl", "{\"timestamp\": 0, \"input_length\": 3, \"output_length\": 5, \"x\": " + deep +
                        ", \"s\": \"[[[\\\"{{\"}\n");
  EXPECT_EQ(read_with("mooncake-jsonl", jsonl).rows.size(), 1u);
}

}  // namespace
}  // namespace kvlab
