// BurstGPT (burstgpt-csv, detected by its header) and the generic readers whose columns
// workload.columns names (csv, jsonl): exact rows from small files written here (a hand-made
// BurstGPT fixture in the published column layout; no BurstGPT file is shipped), the
// mapping's errors, and bad rows named FILE:LINE: field like every reader's.
#include <gtest/gtest.h>

#include "core/errors.h"
#include "tests/traces/trace_test_util.h"
#include "traces/column_mapping.h"
#include "traces/read_trace.h"

namespace kvlab {
namespace {

using testing::input_error_message;
using testing::TempTraceDir;

// BurstGPT's layout (HPMLL/BurstGPT, CC-BY-4.0): Timestamp in seconds from the trace's start;
// a failed request logs 0 response tokens.
constexpr const char* kBurstGpt =
    "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n"
    "5,ChatGPT,472,18,490,Conversation log\n"
    "45,ChatGPT,1087,185,1272,Conversation log\n"
    "118,GPT-4,417,0,417,API log\n"
    "1200.5,GPT-4,2001,312,2313,API log\n";

TraceReadResult read(const std::string& path, const std::string& format,
                     const std::string& columns = "", const std::string& unit = "s",
                     bool skip = false) {
  TraceReadOptions options;
  options.columns = columns;
  options.arrival_unit = unit;
  options.skip_bad_rows = skip;
  return read_trace(path, format, options);
}

TEST(BurstGpt, DetectedByItsHeaderAndFailedRequestsAreDroppedAndCounted) {
  TempTraceDir dir;
  const auto path = dir.write("BurstGPT_1.csv", kBurstGpt);
  const TraceReadResult r = read(path, "auto");
  EXPECT_EQ(r.format, "burstgpt-csv");
  EXPECT_TRUE(r.data.has_timestamps);
  ASSERT_EQ(r.data.rows.size(), 3u);
  EXPECT_DOUBLE_EQ(r.data.rows[0].timestamp_s, 5);
  EXPECT_EQ(r.data.rows[0].prompt_len, 472);
  EXPECT_EQ(r.data.rows[0].output_len, 18);
  EXPECT_EQ(r.data.rows[0].line, 2);
  EXPECT_DOUBLE_EQ(r.data.rows[2].timestamp_s, 1200.5);
  EXPECT_EQ(r.data.rows[2].prompt_len, 2001);
  EXPECT_EQ(r.data.rows[2].line, 5);
  ASSERT_EQ(r.dropped.size(), 1u);
  EXPECT_EQ(r.dropped[0].count, 1);
  EXPECT_EQ(r.dropped[0].reason, "failed requests: Response tokens 0");
  EXPECT_EQ(r.num_dropped(), 1);
}

TEST(BurstGpt, ABadRowNamesFileLineAndColumn) {
  TempTraceDir dir;
  const auto path =
      dir.write("b.csv", std::string(kBurstGpt) + "1300,ChatGPT,many,3,3,Conversation log\n");
  EXPECT_EQ(input_error_message([&] {
              read(path, "burstgpt-csv");
            }).rfind(path + ":6: field 'Request tokens': ", 0),
            0u);
  const TraceReadResult skipped = read(path, "burstgpt-csv", "", "s", true);
  EXPECT_EQ(skipped.data.bad_rows_skipped, 1);
  EXPECT_EQ(skipped.data.rows.size(), 3u);
}

TEST(MappedCsv, ColumnsWithSpacesAnyOrderAndArrivalUnits) {
  TempTraceDir dir;
  const auto path = dir.write("t.csv",
                              "id,\"Response tokens\",arrival ms,Request tokens\n"
                              "a,7,0,100\n"
                              "b,9,1500,\"2,000\"\n");
  // A quoted field holding a comma is one field (RFC 4180), and not a number.
  EXPECT_EQ(input_error_message([&] {
              read(path, "auto",
                   "arrival:arrival ms, prompt:Request tokens, output:Response tokens", "ms");
            }).rfind(path + ":3: field 'Request tokens': ", 0),
            0u);
  const auto good = dir.write("u.csv",
                              "id,\"Response tokens\",arrival ms,Request tokens\n"
                              "a,7,0,100\n"
                              "b,9,1500,2000\n");
  const TraceReadResult r = read(
      good, "auto", " arrival : arrival ms ,prompt:Request tokens,output:Response tokens ", "ms");
  EXPECT_EQ(r.format, "csv");
  EXPECT_TRUE(r.data.has_timestamps);
  ASSERT_EQ(r.data.rows.size(), 2u);
  EXPECT_DOUBLE_EQ(r.data.rows[1].timestamp_s, 1.5);
  EXPECT_EQ(r.data.rows[1].prompt_len, 2000);
  EXPECT_EQ(r.data.rows[1].output_len, 9);
  // Without an arrival column the rows have no timestamps (arrivals come from workload.rate).
  const TraceReadResult lengths =
      read(good, "csv", "prompt:Request tokens, output:Response tokens");
  EXPECT_FALSE(lengths.data.has_timestamps);
  EXPECT_EQ(lengths.data.rows.size(), 2u);
  // A BurstGPT file read through the generic reader keeps its 0-token row as a bad row.
  const auto burst = dir.write("burst.csv", kBurstGpt);
  EXPECT_EQ(input_error_message([&] {
              read(burst, "csv",
                   "arrival:Timestamp, prompt:Request tokens, output:Response tokens");
            }).rfind(burst + ":4: field 'Response tokens': ", 0),
            0u);
}

TEST(MappedCsv, AMissingColumnNamesTheHeader) {
  TempTraceDir dir;
  const auto path = dir.write("t.csv", "a,b\n1,2\n");
  EXPECT_EQ(input_error_message([&] {
              read(path, "csv", "prompt:a, output:c");
            }).rfind(path + ":1: field 'c': column missing from the header", 0),
            0u);
}

TEST(MappedJsonl, KeysByNameAndBadRowsByKey) {
  TempTraceDir dir;
  const auto path = dir.write("t.jsonl",
                              "{\"t_us\": 0, \"in\": 12, \"out\": 3}\n"
                              "\n"
                              "{\"t_us\": 2500000, \"in\": 40, \"out\": 5, \"other\": [1]}\n");
  const TraceReadResult r = read(path, "auto", "arrival:t_us, prompt:in, output:out", "us");
  EXPECT_EQ(r.format, "jsonl");
  ASSERT_EQ(r.data.rows.size(), 2u);
  EXPECT_DOUBLE_EQ(r.data.rows[1].timestamp_s, 2.5);
  EXPECT_EQ(r.data.rows[1].prompt_len, 40);
  EXPECT_EQ(r.data.rows[1].line, 3);
  const auto bad = dir.write("b.jsonl", "{\"in\": 12, \"out\": 3}\n{\"in\": 0, \"out\": 3}\n");
  EXPECT_EQ(input_error_message([&] {
              read(bad, "jsonl", "prompt:in, output:out");
            }).rfind(bad + ":2: field 'in': ", 0),
            0u);
  const auto no_key = dir.write("k.jsonl", "{\"in\": 12}\n");
  EXPECT_EQ(input_error_message([&] {
              read(no_key, "jsonl", "prompt:in, output:out");
            }).rfind(no_key + ":1: field 'out': missing", 0),
            0u);
  const auto near = dir.write("n.jsonl", "{\"in\": 12, \"output\": 3}\n");
  EXPECT_EQ(input_error_message([&] { read(near, "jsonl", "prompt:in, output:outptu"); }),
            near + ":1: field 'outptu': missing (did you mean 'output'?)");
}

TEST(ColumnMapping, ParsesRolesAndRefusesWhatItCannotUse) {
  const ColumnMapping m = parse_column_mapping(
      "arrival:Timestamp, prompt:Request tokens, output:Response tokens", "ms");
  EXPECT_EQ(m.arrival, "Timestamp");
  EXPECT_EQ(m.prompt, "Request tokens");
  EXPECT_EQ(m.output, "Response tokens");
  EXPECT_DOUBLE_EQ(m.arrival_unit_s, 1e-3);
  EXPECT_EQ(parse_column_mapping("output:o,prompt:p", "s").arrival, "");
  const std::pair<const char*, const char*> bad[] = {
      {"", "field 'workload.columns': empty"},
      {"prompt:p", "field 'workload.columns': no output column"},
      {"prompt:p, output:o, prompt:q", "role 'prompt' given twice"},
      {"prompt:p, outptu:o", "unknown role 'outptu' (did you mean 'output'?"},
      {"prompt p, output:o", "'prompt p' has no ':'"},
      {"prompt:, output:o", "role 'prompt' names no column"},
  };
  for (const auto& [spec, expected] : bad) {
    const std::string message = input_error_message([&] { parse_column_mapping(spec, "s"); });
    EXPECT_NE(message.find(expected), std::string::npos) << spec << ": " << message;
  }
  EXPECT_NE(input_error_message([&] {
              parse_column_mapping("prompt:p, output:o", "sec");
            }).find("field 'workload.arrival_unit': unknown arrival unit 'sec'"),
            std::string::npos);
}

TEST(MappedFormats, NeedColumnsAndNamedFormatsRefuseThem) {
  TempTraceDir dir;
  const auto path = dir.write("t.csv", "a,b\n1,2\n");
  EXPECT_NE(input_error_message([&] {
              read(path, "csv");
            }).find("field 'workload.columns': format 'csv' needs workload.columns"),
            std::string::npos);
  EXPECT_NE(input_error_message([&] {
              read(path, "length-csv", "prompt:a, output:b");
            }).find("field 'workload.columns': names the columns of the generic formats"),
            std::string::npos);
}

}  // namespace
}  // namespace kvlab
