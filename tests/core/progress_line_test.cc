// `kvlab run`'s progress line (app/progress_line.h) on a fake clock: silent for two seconds,
// a line every five seconds off a terminal and at each phase's end, an ETA that counts the
// writing still to come, and a writing phase with its own rate and ETA.
#include "app/progress_line.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

namespace kvlab {
namespace {

using ::testing::HasSubstr;

// The lines a ProgressLine printed into a memory stream.
class Captured {
 public:
  Captured() : file_(open_memstream(&buf_, &size_)) {}
  ~Captured() {
    std::fclose(file_);
    free(buf_);
  }
  std::FILE* file() { return file_; }
  std::vector<std::string> lines() {
    std::fflush(file_);
    std::vector<std::string> out;
    std::string text(buf_, size_), line;
    for (char c : text) {
      if (c == '\n') {
        out.push_back(line);
        line.clear();
      } else {
        line += c;
      }
    }
    if (!line.empty()) out.push_back(line);
    return out;
  }

 private:
  char* buf_ = nullptr;
  size_t size_ = 0;
  std::FILE* file_;
};

RunProgress at(size_t points_done, int64_t requests_done, int64_t steps) {
  RunProgress p;
  p.points_done = points_done;
  p.points_total = 4;
  p.requests_done = requests_done;
  p.requests_total = 1000;
  p.steps = steps;
  p.engine_time_s = 90;
  return p;
}

TEST(ProgressLine, SilentForTwoSecondsThenALineEveryFiveSecondsOffATerminal) {
  Captured out;
  double now = 0;
  ProgressLine line(out.file(), false, [&] { return now; });
  now = 1.0;
  line.running(at(0, 100, 1000));
  EXPECT_TRUE(out.lines().empty());
  now = 2.5;
  line.running(at(0, 250, 2500));
  ASSERT_EQ(out.lines().size(), 1u);
  now = 5.0;  // 2.5 s after the last line: not yet
  line.running(at(1, 500, 5000));
  EXPECT_EQ(out.lines().size(), 1u);
  now = 7.6;
  line.running(at(2, 600, 6000));
  EXPECT_EQ(out.lines().size(), 2u);
  now = 8.0;  // the phase's end is always shown
  line.running(at(4, 1000, 10000));
  const std::vector<std::string> lines = out.lines();
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_THAT(lines[0], HasSubstr("points 0/4  requests 250/1000 (25%)  simulated 1m30s"));
  EXPECT_THAT(lines[2], HasSubstr("points 4/4  requests 1000/1000 (100%)"));
}

TEST(ProgressLine, TheEtaCountsTheWritingStillToCome) {
  Captured out;
  double now = 0;
  ProgressLine line(out.file(), false, [&] { return now; });
  now = 10.0;
  // A quarter of the requests in 10 s: 30 s of running left. 2,500 steps so far extrapolate
  // to 10,000, so 11,000 rows are to be written at kWriteSecondsPerRow.
  line.running(at(1, 250, 2500));
  const double write = 11000 * kWriteSecondsPerRow;
  ASSERT_EQ(out.lines().size(), 1u);
  EXPECT_THAT(out.lines()[0], HasSubstr("ETA " + format_duration(30 + write) + " (writing ~" +
                                        format_duration(write) + ")"));
  // Done running: only the writing is left.
  now = 40.0;
  line.running(at(4, 1000, 10000));
  EXPECT_THAT(out.lines()[1], HasSubstr("ETA " + format_duration(write) + " (writing ~"));
}

TEST(ProgressLine, WritingPhaseReportsRowsRateAndEtaFromTheMeasuredRate) {
  Captured out;
  double now = 10;
  ProgressLine line(out.file(), false, [&] { return now; });
  line.writing_started();
  now = 16;  // 300,000 of 1,200,000 rows in 6 s: 50,000 rows/s, 18 s left
  line.writing(300000, 1200000);
  now = 34;
  line.writing(1200000, 1200000);
  const std::vector<std::string> lines = out.lines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_THAT(lines[0], HasSubstr("writing results: rows 300000/1200000 (25%)  50000 rows/s  "
                                  "elapsed 16.0s  ETA 18.0s"));
  EXPECT_THAT(lines[1], HasSubstr("rows 1200000/1200000 (100%)"));
  EXPECT_THAT(lines[1], HasSubstr("ETA 0.0s"));
}

TEST(ProgressLine, OnATerminalTheLineIsRewrittenInPlace) {
  Captured out;
  double now = 3;
  ProgressLine line(out.file(), true, [&] { return now; });
  line.running(at(1, 250, 2500));
  now = 3.5;
  line.running(at(2, 500, 5000));
  line.finish();
  const std::vector<std::string> lines = out.lines();
  ASSERT_EQ(lines.size(), 1u);  // one physical line, two updates
  EXPECT_EQ(lines[0].front(), '\r');
  EXPECT_THAT(lines[0], HasSubstr("\033[K\r[kvlab] points 2/4"));
}

TEST(ProgressLine, DurationsReadAsSecondsMinutesOrHours) {
  EXPECT_EQ(format_duration(12.34), "12.3s");
  EXPECT_EQ(format_duration(245), "4m05s");
  EXPECT_EQ(format_duration(9060), "2h31m");
}

}  // namespace
}  // namespace kvlab
