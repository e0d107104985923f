#include "traces/workload_loader.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <sstream>

#include "core/errors.h"
#include "traces/arrivals.h"
#include "traces/deterministic_random.h"
#include "traces/length_distribution.h"
#include "traces/request_names.h"

namespace kvlab {

namespace {

// Seed streams: 1 arrivals (arrivals.cc), 2 and 3 here, 4 system prompt names
// (request_names.cc).
constexpr uint64_t kPromptLenStream = 2;
constexpr uint64_t kOutputLenStream = 3;

std::string number(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

void require(bool ok, const std::string& key, const std::string& message) {
  if (!ok) throw InputError("", 0, key, message);
}

void validate(const WorkloadConfig& c, ArrivalProcess arrival) {
  require(c.num_requests >= 0, "workload.num_requests",
          "must be >= 0 (0: every row), got " + std::to_string(c.num_requests));
  require(c.max_prompt_len >= 0, "workload.max_prompt_len",
          "must be >= 0 (0: off), got " + std::to_string(c.max_prompt_len));
  require(c.max_total_len >= 0, "workload.max_total_len",
          "must be >= 0 (0: off), got " + std::to_string(c.max_total_len));
  require(c.n >= 1 && c.n <= kMaxSamples, "workload.n",
          "must be in [1, " + std::to_string(kMaxSamples) + "], got " + std::to_string(c.n));
  require(c.shared_prefix_len >= 0, "workload.shared_prefix_len",
          "must be >= 0 (0: none), got " + std::to_string(c.shared_prefix_len));
  require(c.shared_prefix_groups >= 1, "workload.shared_prefix_groups",
          "must be >= 1, got " + std::to_string(c.shared_prefix_groups));
  require(std::isfinite(c.time_scale) && c.time_scale > 0, "workload.time_scale",
          "must be > 0, got " + number(c.time_scale));
  if (arrival == ArrivalProcess::kPoisson || arrival == ArrivalProcess::kGamma) {
    require(std::isfinite(c.rate) && c.rate > 0, "workload.rate",
            "must be > 0 requests per second, got " + number(c.rate));
  }
  if (arrival == ArrivalProcess::kGamma) {
    require(std::isfinite(c.burstiness) && c.burstiness > 0, "workload.burstiness",
            "must be > 0 (1 = poisson, < 1 burstier), got " + number(c.burstiness));
  }
}

std::vector<TraceRow> synthetic_rows(const WorkloadConfig& c) {
  require(c.num_requests > 0, "workload.num_requests",
          "a synthetic workload (workload.trace empty) needs num_requests > 0");
  const auto prompt = LengthDistribution::parse(c.prompt_len, "workload.prompt_len");
  const auto output = LengthDistribution::parse(c.output_len, "workload.output_len");
  std::mt19937_64 prompt_rng(derive_seed(c.seed, kPromptLenStream));
  std::mt19937_64 output_rng(derive_seed(c.seed, kOutputLenStream));
  std::vector<TraceRow> rows(static_cast<size_t>(c.num_requests));
  for (auto& row : rows) {
    row.prompt_len = prompt.sample(prompt_rng);
    row.output_len = output.sample(output_rng);
    row.line = 0;
  }
  return rows;
}

// Applies max_prompt_len, max_total_len and num_requests in that order, counting drops.
std::vector<TraceRow> filter_rows(std::vector<TraceRow> rows, const WorkloadConfig& c,
                                  WorkloadReport& report) {
  std::vector<TraceRow> kept;
  kept.reserve(rows.size());
  for (auto& row : rows) {
    if (c.max_prompt_len > 0 && row.prompt_len > c.max_prompt_len) {
      ++report.filtered_prompt_len;
    } else if (c.max_total_len > 0 && row.prompt_len + row.output_len > c.max_total_len) {
      ++report.filtered_total_len;
    } else if (c.num_requests > 0 && static_cast<int64_t>(kept.size()) >= c.num_requests) {
      ++report.beyond_num_requests;
    } else {
      kept.push_back(std::move(row));
    }
  }
  return kept;
}

std::vector<double> arrival_times(ArrivalProcess arrival, const std::vector<TraceRow>& rows,
                                  const WorkloadConfig& c) {
  const auto count = static_cast<int64_t>(rows.size());
  switch (arrival) {
    case ArrivalProcess::kTrace: {
      std::vector<double> timestamps;
      timestamps.reserve(rows.size());
      for (const auto& row : rows) timestamps.push_back(row.timestamp_s);
      return trace_arrivals(timestamps, c.time_scale);
    }
    case ArrivalProcess::kPoisson:
      return poisson_arrivals(count, c.rate, c.seed);
    case ArrivalProcess::kGamma:
      return gamma_arrivals(count, c.rate, c.burstiness, c.seed);
    case ArrivalProcess::kBurst:
      return burst_arrivals(count);
  }
  return {};
}

// workload.shared_prefix_len: the i-th request in arrival order starts with system prompt
// i % shared_prefix_groups. A trace that names its own prefixes (hash_ids) is refused: its
// names describe its real prompts, which a made-up system prompt would contradict.
void name_system_prompts(const WorkloadConfig& c, const std::vector<TraceRow>& kept,
                         std::vector<RequestSpec>& requests) {
  if (c.shared_prefix_len <= 0) return;
  for (const TraceRow& row : kept) {
    if (!row.hash_ids.empty()) {
      throw InputError(c.trace, row.line, "workload.shared_prefix_len",
                       "the trace names its prompts' prefixes itself (hash_ids); a shared system "
                       "prompt would contradict them: set workload.shared_prefix_len = 0");
    }
  }
  for (RequestSpec& spec : requests) {
    const int64_t group = spec.id % c.shared_prefix_groups;
    name_system_prompt(system_prompt_name(c.seed, group), c.shared_prefix_len, spec);
  }
}

[[noreturn]] void fail_empty(const WorkloadReport& report, const std::vector<FormatDrop>& dropped) {
  std::string message = "no requests left: " + std::to_string(report.rows_read) + " rows read, " +
                        std::to_string(report.bad_rows_skipped) + " bad rows skipped, " +
                        std::to_string(report.filtered_prompt_len) +
                        " over workload.max_prompt_len, " +
                        std::to_string(report.filtered_total_len) + " over workload.max_total_len";
  for (const auto& drop : dropped) {
    if (drop.count > 0)
      message += ", " + std::to_string(drop.count) + " dropped (" + drop.reason + ")";
  }
  throw InputError(report.source, 0, "", message);
}

}  // namespace

WorkloadDetails load_workload_with_details(const WorkloadConfig& c) {
  const ArrivalProcess arrival = parse_arrival_process(c.arrival);
  validate(c, arrival);
  WorkloadDetails details;
  WorkloadReport& report = details.workload.report;
  std::vector<TraceRow> rows;
  if (c.trace.empty()) {
    require(arrival != ArrivalProcess::kTrace, "workload.arrival",
            "a synthetic workload (workload.trace empty) has no timestamps to replay; set "
            "workload.arrival to poisson, gamma or burst");
    report.source = "synthetic";
    report.format = "synthetic";
    rows = synthetic_rows(c);
  } else {
    TraceReadOptions options;
    options.skip_bad_rows = c.skip_bad_rows;
    TraceReadResult read = read_trace(c.trace, c.format, options);
    report.source = c.trace;
    report.format = read.format;
    if (arrival == ArrivalProcess::kTrace && !read.data.has_timestamps) {
      throw InputError(c.trace, 0, "workload.arrival",
                       "arrival = trace, but trace format '" + read.format +
                           "' has no timestamps; set workload.arrival to poisson, gamma or burst");
    }
    report.bad_rows_skipped = read.data.bad_rows_skipped;
    report.bad_row_messages = std::move(read.data.bad_row_messages);
    details.dropped_by_format = std::move(read.dropped);
    rows = std::move(read.data.rows);
  }
  report.rows_read = static_cast<int64_t>(rows.size()) + report.bad_rows_skipped;

  const std::vector<TraceRow> kept = filter_rows(std::move(rows), c, report);
  if (kept.empty()) fail_empty(report, details.dropped_by_format);
  const std::vector<double> arrivals = arrival_times(arrival, kept, c);

  std::vector<size_t> order(kept.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return arrivals[a] < arrivals[b]; });
  auto& requests = details.workload.requests;
  requests.reserve(kept.size());
  for (size_t i = 0; i < order.size(); ++i) {
    const TraceRow& row = kept[order[i]];
    RequestSpec spec;
    spec.id = static_cast<RequestId>(i);
    spec.arrival_s = arrivals[order[i]];
    spec.prompt_len = static_cast<int32_t>(row.prompt_len);
    spec.output_len = static_cast<int32_t>(row.output_len);
    spec.n = c.n;
    name_by_hash_ids(row.hash_ids, spec);
    spec.source_line = row.line;
    requests.push_back(std::move(spec));
  }
  name_system_prompts(c, kept, requests);
  return details;
}

Workload load_workload(const WorkloadConfig& config) {
  WorkloadDetails details = load_workload_with_details(config);
  for (const FormatDrop& drop : details.dropped_by_format) {
    details.workload.report.dropped_by_format.emplace_back(drop.reason, drop.count);
  }
  return std::move(details.workload);
}

}  // namespace kvlab
