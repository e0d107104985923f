// Format auto-detection from the file extension and the first line.
#include <gtest/gtest.h>

#include "tests/traces/trace_test_util.h"
#include "traces/read_trace.h"

namespace kvlab {
namespace {

using testing::input_error_message;
using testing::TempTraceDir;

struct DetectCase {
  const char* file_name;
  const char* content;
  const char* format;
};

TEST(AutoDetect, PicksTheFormatFromHeaderOrExtension) {
  const std::vector<DetectCase> cases = {
      {"a.csv", "num_prefill_tokens,num_decode_tokens,num_total_tokens,pd_ratio\n1,2,3,0.5\n",
       "length-csv"},
      {"b.txt", "num_decode_tokens,num_prefill_tokens\n2,1\n", "length-csv"},
      {"c.csv", "arrived_at,num_prefill_tokens,num_decode_tokens\n0,1,2\n", "timed-csv"},
      {"d.csv", "num_prefill_tokens,arrived_at,num_decode_tokens\n1,0,2\n", "timed-csv"},
      {"e.csv", "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.6805900,1,2\n",
       "azure-csv"},
      {"f.jsonl", "{\"timestamp\": 0, \"input_length\": 1, \"output_length\": 2}\n",
       "mooncake-jsonl"},
      {"g.trace", "{\"timestamp\": 0, \"input_length\": 1, \"output_length\": 2}\n",
       "mooncake-jsonl"},
      {"h.json", "\n[{\"conversations\": [{\"value\": \"a b\"}, {\"value\": \"c d\"}]}]",
       "sharegpt-json"},
      {"i.dat", "[{\"conversations\": [{\"value\": \"a b\"}, {\"value\": \"c d\"}]}]",
       "sharegpt-json"},
  };
  TempTraceDir dir;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.file_name);
    const auto path = dir.write(c.file_name, c.content);
    EXPECT_EQ(detect_trace_format(path), c.format);
    const TraceReadResult result = read_trace(path, "auto", {});
    EXPECT_EQ(result.format, c.format);
    EXPECT_EQ(result.data.rows.size(), 1u);
    // The registered "auto" reader reads the same rows.
    EXPECT_EQ(testing::read_with("auto", path).rows.size(), 1u);
  }
}

TEST(AutoDetect, UnknownHeaderNamesFileAndFormatKey) {
  TempTraceDir dir;
  const auto path = dir.write("x.csv", "prompt,output\n1,2\n");
  const std::string message = input_error_message([&] { read_trace(path, "auto", {}); });
  EXPECT_EQ(message.rfind(path + ":1: field 'workload.format': cannot detect", 0), 0u) << message;
  EXPECT_NE(message.find("prompt,output"), std::string::npos) << message;
}

TEST(AutoDetect, MissingFileIsNamed) {
  TempTraceDir dir;
  const auto path = dir.path("absent.jsonl");
  EXPECT_EQ(input_error_message([&] { read_trace(path, "auto", {}); }),
            path + ": trace file does not exist");
}

TEST(ReadTrace, UnknownFormatListsTheKnownOnes) {
  TempTraceDir dir;
  const auto path = dir.write("x.csv", "num_prefill_tokens,num_decode_tokens\n1,2\n");
  const std::string message = input_error_message([&] { read_trace(path, "parquet", {}); });
  EXPECT_NE(message.find("field 'workload.format': unknown trace format 'parquet' (known: "),
            std::string::npos)
      << message;
  for (const char* name : {"auto", "azure-csv", "length-csv", "mooncake-jsonl", "sharegpt-json",
                           "sharegpt-json-vllm", "timed-csv"}) {
    EXPECT_NE(message.find(name), std::string::npos) << name;
  }
}

}  // namespace
}  // namespace kvlab
