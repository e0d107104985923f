#include "traces/trace_stats.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>

#include "core/errors.h"

namespace kvlab {

namespace {

constexpr int kBarWidth = 40;

LengthStats summarize(std::vector<int64_t> values) {
  LengthStats stats;
  if (values.empty()) return stats;
  std::sort(values.begin(), values.end());
  double sum = 0;
  for (int64_t v : values) sum += static_cast<double>(v);
  stats.mean = sum / static_cast<double>(values.size());
  stats.min = values.front();
  stats.p50 = nearest_rank_percentile(values, 50);
  stats.p90 = nearest_rank_percentile(values, 90);
  stats.p99 = nearest_rank_percentile(values, 99);
  stats.max = values.back();
  stats.histogram = log2_histogram(values);
  return stats;
}

std::string length_line(const char* label, const LengthStats& stats) {
  char buffer[160];
  std::snprintf(buffer, sizeof buffer, "%-8s%12.1f%10lld%10lld%10lld%10lld%10lld\n", label,
                stats.mean, static_cast<long long>(stats.min), static_cast<long long>(stats.p50),
                static_cast<long long>(stats.p90), static_cast<long long>(stats.p99),
                static_cast<long long>(stats.max));
  return buffer;
}

std::string histogram_lines(const char* label, const std::vector<HistogramBin>& bins) {
  char buffer[200];
  std::snprintf(buffer, sizeof buffer, "%-6s tokens  %9s\n", label, "count");
  std::string out = buffer;
  int64_t most = 0;
  for (const HistogramBin& b : bins) most = std::max(most, b.count);
  for (const HistogramBin& b : bins) {
    int bar = 0;
    if (b.count > 0) {
      bar = std::max<int>(1, static_cast<int>(std::llround(static_cast<double>(b.count) *
                                                           kBarWidth / static_cast<double>(most))));
    }
    std::snprintf(buffer, sizeof buffer, "  [%7lld, %7lld) %9lld  %s\n",
                  static_cast<long long>(b.lo), static_cast<long long>(b.hi),
                  static_cast<long long>(b.count), std::string(static_cast<size_t>(bar), '#').c_str());
    out += buffer;
  }
  return out;
}

// The k of the bin [2^k, 2^(k+1)) holding v >= 1.
int log2_floor(int64_t v) {
  int k = 0;
  while (v > 1) {
    v >>= 1;
    ++k;
  }
  return k;
}

}  // namespace

int64_t nearest_rank_percentile(const std::vector<int64_t>& sorted_values, double p) {
  check_invariant(!sorted_values.empty() && p > 0 && p <= 100,
                  "nearest_rank_percentile: bad input");
  const auto n = static_cast<double>(sorted_values.size());
  auto rank = static_cast<size_t>(std::ceil(p / 100.0 * n));
  rank = std::clamp<size_t>(rank, 1, sorted_values.size());
  return sorted_values[rank - 1];
}

std::vector<HistogramBin> log2_histogram(const std::vector<int64_t>& values) {
  std::vector<HistogramBin> bins;
  if (values.empty()) return bins;
  const auto [lo, hi] = std::minmax_element(values.begin(), values.end());
  check_invariant(*lo >= 1, "log2_histogram: a value below 1");
  const int first = log2_floor(*lo), last = log2_floor(*hi);
  for (int k = first; k <= last; ++k) {
    // 2^63 does not fit: the last possible bin ends at INT64_MAX (exclusive bound kept open).
    const int64_t hi_bound = k >= 62 ? INT64_MAX : int64_t{1} << (k + 1);
    bins.push_back(HistogramBin{int64_t{1} << k, hi_bound, 0});
  }
  for (int64_t v : values) ++bins[static_cast<size_t>(log2_floor(v) - first)].count;
  return bins;
}

TraceStats compute_trace_stats(const std::string& path, const std::string& format,
                               TraceReadOptions options) {
  options.skip_bad_rows = false;
  options.multi_turn = false;
  TraceReadResult read = read_trace(path, format, options);
  TraceStats stats;
  stats.path = path;
  stats.format = read.format;
  stats.count = static_cast<int64_t>(read.data.rows.size());
  stats.has_timestamps = read.data.has_timestamps;
  stats.dropped = read.dropped;
  std::vector<int64_t> prompts, outputs;
  prompts.reserve(read.data.rows.size());
  outputs.reserve(read.data.rows.size());
  double earliest = 0, latest = 0;
  bool first = true;
  for (const auto& row : read.data.rows) {
    prompts.push_back(row.prompt_len);
    outputs.push_back(row.output_len);
    if (!stats.has_timestamps) continue;
    earliest = first ? row.timestamp_s : std::min(earliest, row.timestamp_s);
    latest = first ? row.timestamp_s : std::max(latest, row.timestamp_s);
    first = false;
  }
  stats.prompt = summarize(std::move(prompts));
  stats.output = summarize(std::move(outputs));
  if (stats.has_timestamps && stats.count > 0) {
    stats.span_s = latest - earliest;
    if (stats.span_s > 0) {
      stats.mean_rate_per_s = static_cast<double>(stats.count - 1) / stats.span_s;
    }
  }
  return stats;
}

std::string format_trace_stats(const TraceStats& s) {
  char buffer[160];
  std::string out;
  out += "trace   " + s.path + " (" + s.format + ")\n";
  out += "rows    " + std::to_string(s.count) + "\n";
  std::snprintf(buffer, sizeof buffer, "%-8s%12s%10s%10s%10s%10s%10s\n", "tokens", "mean", "min",
                "p50", "p90", "p99", "max");
  out += buffer;
  out += length_line("prompt", s.prompt);
  out += length_line("output", s.output);
  if (s.has_timestamps) {
    std::snprintf(buffer, sizeof buffer, "%-8s%.1f s, mean rate %.3f req/s\n", "span", s.span_s,
                  s.mean_rate_per_s);
    out += buffer;
  } else {
    out += "span    no timestamps (use a generated arrival process)\n";
  }
  for (const auto& drop : s.dropped) {
    if (drop.count > 0) out += "dropped " + std::to_string(drop.count) + " (" + drop.reason + ")\n";
  }
  if (s.count > 0) {
    // Appended piecewise: "\n" + std::string trips GCC 12's -Wrestrict false positive.
    out += '\n';
    out += histogram_lines("prompt", s.prompt.histogram);
    out += '\n';
    out += histogram_lines("output", s.output.histogram);
  }
  return out;
}

}  // namespace kvlab
