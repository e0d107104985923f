// Golden tests for the CSV formats (length-csv, timed-csv, azure-csv) and the wall-clock
// timestamp parser: exact rows from small files written here.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include "core/errors.h"
#include "tests/traces/trace_test_util.h"
#include "traces/csv_records.h"
#include "traces/read_trace.h"
#include "traces/wall_clock_time.h"

namespace kvlab {
namespace {

using testing::read_with;
using testing::TempTraceDir;

struct Expected {
  double timestamp_s;
  int64_t prompt_len;
  int64_t output_len;
  int64_t line;
};

void expect_rows(const TraceData& data, const std::vector<Expected>& expected) {
  ASSERT_EQ(data.rows.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    SCOPED_TRACE("row " + std::to_string(i));
    EXPECT_DOUBLE_EQ(data.rows[i].timestamp_s, expected[i].timestamp_s);
    EXPECT_EQ(data.rows[i].prompt_len, expected[i].prompt_len);
    EXPECT_EQ(data.rows[i].output_len, expected[i].output_len);
    EXPECT_EQ(data.rows[i].line, expected[i].line);
    EXPECT_TRUE(data.rows[i].hash_ids.empty());
  }
  EXPECT_EQ(data.bad_rows_skipped, 0);
  EXPECT_TRUE(data.bad_row_messages.empty());
}

TEST(LengthCsv, ReadsVidurLengthTraceIgnoringOtherColumns) {
  TempTraceDir dir;
  const auto path = dir.write("lengths.csv",
                              "num_prefill_tokens,num_decode_tokens,num_total_tokens,pd_ratio\n"
                              "74,918,992,0.0806100217864923\n"
                              "290,905,1195,0.3204419889502762\n"
                              "\n"
                              "1402,711,2113,1.9718706047819967\n");
  const TraceData data = read_with("length-csv", path);
  EXPECT_FALSE(data.has_timestamps);
  expect_rows(data, {{-1, 74, 918, 2}, {-1, 290, 905, 3}, {-1, 1402, 711, 5}});
}

TEST(LengthCsv, FindsColumnsByNameInAnyOrderWithCrlfSpacesAndQuotes) {
  TempTraceDir dir;
  const auto path = dir.write("lengths.csv",
                              "\xEF\xBB\xBFid, num_decode_tokens ,\"num_prefill_tokens\"\r\n"
                              "a, 7 ,\"3\"\r\n"
                              "b,12.0,+5\r\n");
  expect_rows(read_with("length-csv", path), {{-1, 3, 7, 2}, {-1, 5, 12, 3}});
}

TEST(TimedCsv, KeepsArrivalSeconds) {
  TempTraceDir dir;
  const auto path = dir.write("timed.csv",
                              "arrived_at,num_prefill_tokens,num_decode_tokens\n"
                              "0,10,20\n"
                              "0.25,11,21\n"
                              "1.5e1,12,22\n");
  const TraceData data = read_with("timed-csv", path);
  EXPECT_TRUE(data.has_timestamps);
  expect_rows(data, {{0.0, 10, 20, 2}, {0.25, 11, 21, 3}, {15.0, 12, 22, 4}});
}

TEST(AzureCsv, ConvertsWallClockToSecondsSinceFirstRow) {
  TempTraceDir dir;
  const auto path = dir.write("azure.csv",
                              "TIMESTAMP,ContextTokens,GeneratedTokens\n"
                              "2023-11-16 18:15:46.6805900,374,44\n"
                              "2023-11-16 18:15:50.9951690,396,109\n"
                              "2023-11-16 18:15:51.2224670,879,55\n"
                              "2023-11-16 18:16:46.68059,1,2\n"
                              "2023-11-17 18:15:46.6805901,3,4\n");
  const TraceData data = read_with("azure-csv", path);
  EXPECT_TRUE(data.has_timestamps);
  expect_rows(data, {{0.0, 374, 44, 2},
                     {4.314579, 396, 109, 3},
                     {4.541877, 879, 55, 4},
                     {60.0, 1, 2, 5},
                     {86400.0000001, 3, 4, 6}});
}

TEST(AzureCsv, RebasesToTheEarliestRowWhenRowsAreOutOfOrder) {
  TempTraceDir dir;
  const auto path = dir.write("azure.csv",
                              "TIMESTAMP,ContextTokens,GeneratedTokens\n"
                              "2023-11-16 18:00:02,5,6\n"
                              "2023-11-16 18:00:00.5,7,8\n");
  expect_rows(read_with("azure-csv", path), {{1.5, 5, 6, 2}, {0.0, 7, 8, 3}});
}

TEST(WallClock, ParsesDatesTimesAndUpToSevenFractionDigits) {
  EXPECT_EQ(days_from_civil(1970, 1, 1), 0);
  EXPECT_EQ(days_from_civil(2000, 3, 1), 11017);
  EXPECT_EQ(days_from_civil(1969, 12, 31), -1);
  EXPECT_EQ(parse_wall_clock_ticks("1970-01-01 00:00:00"), 0);
  EXPECT_EQ(parse_wall_clock_ticks("1970-01-01T00:00:01.5"), 15'000'000);
  EXPECT_EQ(parse_wall_clock_ticks("1970-01-02 01:02:03.0000001"),
            (86400 + 3723) * kTicksPerSecond + 1);
  EXPECT_TRUE(parse_wall_clock_ticks("2024-02-29 23:59:59.9999999").has_value());
  EXPECT_EQ(*parse_wall_clock_ticks("2024-03-01 00:00:00") -
                *parse_wall_clock_ticks("2024-02-28 00:00:00"),
            2 * 86400 * kTicksPerSecond);
}

TEST(WallClock, RejectsMalformedTimestamps) {
  for (const char* bad :
       {"", "2023-11-16", "2023-11-16 18:15", "2023-13-01 00:00:00", "2023-02-29 00:00:00",
        "2023-11-31 00:00:00", "2023-11-16 24:00:00", "2023-11-16 12:60:00", "2023-11-16 12:00:60",
        "2023-11-16 12:00:00.", "2023-11-16 12:00:00.12345678", "2023-11-16 12:00:00Z",
        "2023/11/16 12:00:00", "2023-11-16 1:00:00", "1700000000"}) {
    EXPECT_FALSE(parse_wall_clock_ticks(bad).has_value()) << bad;
  }
}

TEST(SplitCsvLine, KeepsEmptyFields) {
  EXPECT_EQ(split_csv_line("a,,b,"), (std::vector<std::string>{"a", "", "b", ""}));
  EXPECT_EQ(split_csv_line(","), (std::vector<std::string>{"", ""}));
  EXPECT_TRUE(split_csv_line("").empty());
}

// RFC 4180 (issue 15, item 4): quoted fields keep their commas and doubled quotes, and spaces
// around an unquoted field or the quotes go.
TEST(SplitCsvLine, ReadsQuotedFieldsAsRfc4180) {
  EXPECT_EQ(split_csv_line("\"a,7,8,b\",5,6"), (std::vector<std::string>{"a,7,8,b", "5", "6"}));
  EXPECT_EQ(split_csv_line("\"say \"\"hi\"\"\", \"\" ,x"),
            (std::vector<std::string>{"say \"hi\"", "", "x"}));
  EXPECT_EQ(split_csv_line(" a b , \"c\" "), (std::vector<std::string>{"a b", "c"}));
}

TEST(SplitCsvLine, RefusesMalformedQuotingNamingTheColumn) {
  struct Case {
    const char* line;
    const char* field;
    const char* reason;
  };
  for (const Case& c : {Case{"a\"b,1", "column 1", "a '\"' inside an unquoted field"},
                        Case{"1,\"a\"b", "column 2", "text after the closing quote"},
                        Case{"1,2,\"open", "column 3", "not closed by the end of the line"}}) {
    try {
      split_csv_line(c.line);
      ADD_FAILURE() << c.line << ": no error";
    } catch (const InputError& e) {
      EXPECT_EQ(e.field(), c.field) << c.line;
      EXPECT_NE(e.reason().find(c.reason), std::string::npos) << c.line << ": " << e.reason();
    }
  }
}

// The case: a first column holding commas once shifted every column (exit 0).
TEST(LengthCsv, ReadsQuotedCommasQuotesAndLineBreaksWithoutShiftingColumns) {
  TempTraceDir dir;
  const auto path =
      dir.write("quoted.csv",
                "\xEF\xBB\xBF\"id, with comma\",num_prefill_tokens,num_decode_tokens\r\n"
                "\"a,7,8,b\",5,6\r\n"
                "\"say \"\"hi\"\", then\",\"7\",8\r\n"
                "\"two\r\nlines, and \"\"more\"\"\n\",9,10\r\n"
                "\r\n"
                "plain,11,12");
  expect_rows(read_with("length-csv", path),
              {{-1, 5, 6, 2}, {-1, 7, 8, 3}, {-1, 9, 10, 4}, {-1, 11, 12, 8}});
}

TEST(LengthCsv, DetectsAHeaderWithQuotedNames) {
  TempTraceDir dir;
  const auto path = dir.write(
      "quoted.csv", "\"a,b\",\"num_prefill_tokens\",\"num_decode_tokens\"\n\"x,y\",1,2\n");
  EXPECT_EQ(detect_trace_format(path), "length-csv");
  expect_rows(read_with("auto", path), {{-1, 1, 2, 2}});
}

// Issue 15, item 8: a 50 MB line of commas took 2.2 GB (a string per empty field). Fields are
// now handed over as they are parsed and only the needed ones kept: ten million empty fields
// cost the line itself.
TEST(LengthCsv, ALineOfTenMillionEmptyFieldsTakesBoundedMemory) {
  TempTraceDir dir;
  const auto path = dir.write("commas.csv", "num_prefill_tokens,num_decode_tokens\n1,2\n" +
                                                std::string(10'000'000, ',') + "\n3,4\n");
  rusage before{};
  getrusage(RUSAGE_SELF, &before);
  const TraceData data = read_with("length-csv", path, /*skip_bad_rows=*/true);
  rusage after{};
  getrusage(RUSAGE_SELF, &after);
  EXPECT_EQ(data.rows.size(), 2u);
  EXPECT_EQ(data.bad_rows_skipped, 1);
  // ru_maxrss is in KiB; the old split needed over 400 MB here.
  EXPECT_LT(after.ru_maxrss - before.ru_maxrss, 100 * 1024);
}

}  // namespace
}  // namespace kvlab
