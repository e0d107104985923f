// Summary statistics of a trace file, for `kvlab trace stats` and for checking a sample
// against its source: row count, mean / p50 / p90 / p99 / max of prompt and output lengths,
// each length distribution as a log-spaced histogram (power-of-two bins), and,
// when the format has timestamps, the span and mean arrival rate. Percentiles are
// nearest-rank (the smallest value with at least p% of rows at or below it), so they are
// always lengths that occur in the trace. The file is read strictly: a malformed row is an
// InputError naming file, line and field.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "traces/read_trace.h"

namespace kvlab {

// Bin [lo, hi) of a histogram and the values in it.
struct HistogramBin {
  int64_t lo = 0;
  int64_t hi = 0;
  int64_t count = 0;
};

struct LengthStats {
  double mean = 0;
  int64_t min = 0;
  int64_t p50 = 0;
  int64_t p90 = 0;
  int64_t p99 = 0;
  int64_t max = 0;
  std::vector<HistogramBin> histogram;  // log2_histogram of the lengths
};

struct TraceStats {
  std::string path;
  std::string format;  // the reader used (detected for "auto")
  int64_t count = 0;   // rows (requests) in the trace
  LengthStats prompt;
  LengthStats output;
  bool has_timestamps = false;
  double span_s = 0;                // latest minus earliest timestamp
  double mean_rate_per_s = 0;       // (count - 1) / span_s: arrivals after the first per second;
                                    // 0 when span_s is 0
  std::vector<FormatDrop> dropped;  // rows the format's rules dropped (ShareGPT)
};

// Throws InputError for a missing file, an unknown format or a malformed row. `options` carry
// workload.columns and workload.arrival_unit for the generic formats (csv, jsonl); the file is
// read strictly whatever options.skip_bad_rows says.
TraceStats compute_trace_stats(const std::string& path, const std::string& format = "auto",
                               TraceReadOptions options = {});

// Power-of-two bins [2^k, 2^(k+1)), from the one holding the smallest value to the one holding
// the largest, every bin in between listed (empty ones with count 0); lengths span orders of
// magnitude, so equal-width bins would put nearly everything in the first. Empty for no
// values. REQUIRES: every value >= 1.
std::vector<HistogramBin> log2_histogram(const std::vector<int64_t>& values);

// Nearest-rank percentile of `values` (sorted ascending). REQUIRES: !values.empty(), 0 < p <= 100.
int64_t nearest_rank_percentile(const std::vector<int64_t>& sorted_values, double p);

// An aligned text table:
//   trace   PATH (FORMAT)
//   rows    N
//             mean    p50    p90    max
//   prompt   ...
//   output   ...
//   span    S s, mean rate R req/s      (or: "no timestamps")
// then each length's histogram, a bar of '#' per bin (the fullest bin 40 wide, every non-empty
// bin at least 1):
//   prompt tokens   count
//   [   512,  1024)   1234  ########################################
std::string format_trace_stats(const TraceStats& stats);

}  // namespace kvlab
