#include "traces/trace_stats.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/errors.h"

namespace kvlab {

namespace {

LengthStats summarize(std::vector<int64_t> values) {
  LengthStats stats;
  if (values.empty()) return stats;
  std::sort(values.begin(), values.end());
  double sum = 0;
  for (int64_t v : values) sum += static_cast<double>(v);
  stats.mean = sum / static_cast<double>(values.size());
  stats.p50 = nearest_rank_percentile(values, 50);
  stats.p90 = nearest_rank_percentile(values, 90);
  stats.max = values.back();
  return stats;
}

std::string length_line(const char* label, const LengthStats& stats) {
  char buffer[160];
  std::snprintf(buffer, sizeof buffer, "%-8s%12.1f%10lld%10lld%10lld\n", label, stats.mean,
                static_cast<long long>(stats.p50), static_cast<long long>(stats.p90),
                static_cast<long long>(stats.max));
  return buffer;
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

TraceStats compute_trace_stats(const std::string& path, const std::string& format) {
  TraceReadResult read = read_trace(path, format, TraceReadOptions{});
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
  std::snprintf(buffer, sizeof buffer, "%-8s%12s%10s%10s%10s\n", "tokens", "mean", "p50", "p90",
                "max");
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
  return out;
}

}  // namespace kvlab
