#include "traces/workload_loader.h"

#include <algorithm>
#include <cmath>
#include <memory>
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

// Seed streams: 1 arrivals (arrivals.cc), 2, 3 and 6 here, 4 and 5 names (request_names.cc).
constexpr uint64_t kPromptLenStream = 2;
constexpr uint64_t kOutputLenStream = 3;
constexpr uint64_t kThinkTimeStream = 6;

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
  require(std::isfinite(c.think_time_s) && c.think_time_s >= 0, "workload.think_time_s",
          "must be >= 0 seconds (0: the next turn at once), got " + number(c.think_time_s));
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

// What a synthetic workload (workload.trace empty) cannot have: trace arrivals, conversations.
void check_synthetic(const WorkloadConfig& c, ArrivalProcess arrival) {
  require(arrival != ArrivalProcess::kTrace, "workload.arrival",
          "a synthetic workload (workload.trace empty) has no timestamps to replay; set "
          "workload.arrival to poisson, gamma or burst");
  require(!c.multi_turn, "workload.multi_turn",
          "a synthetic workload (workload.trace empty) has no conversations; give a ShareGPT "
          "trace (format sharegpt-json)");
}

// A synthetic workload's rows one at a time: num_requests rows, lengths drawn from
// workload.prompt_len and output_len, each from its own seed stream, source line 0.
class SyntheticRows {
 public:
  // Throws InputError naming workload.num_requests, prompt_len or output_len.
  explicit SyntheticRows(const WorkloadConfig& c)
      : remaining_(checked_count(c)),
        prompt_(LengthDistribution::parse(c.prompt_len, "workload.prompt_len")),
        output_(LengthDistribution::parse(c.output_len, "workload.output_len")),
        prompt_rng_(derive_seed(c.seed, kPromptLenStream)),
        output_rng_(derive_seed(c.seed, kOutputLenStream)) {}

  int64_t remaining() const { return remaining_; }

  // REQUIRES: remaining() > 0.
  TraceRow next() {
    --remaining_;
    TraceRow row;
    row.prompt_len = prompt_.sample(prompt_rng_);
    row.output_len = output_.sample(output_rng_);
    row.line = 0;
    return row;
  }

 private:
  static int64_t checked_count(const WorkloadConfig& c) {
    require(c.num_requests > 0, "workload.num_requests",
            "a synthetic workload (workload.trace empty) needs num_requests > 0");
    return c.num_requests;
  }

  int64_t remaining_;
  LengthDistribution prompt_;
  LengthDistribution output_;
  std::mt19937_64 prompt_rng_;
  std::mt19937_64 output_rng_;
};

std::vector<TraceRow> synthetic_rows(const WorkloadConfig& c) {
  SyntheticRows generator(c);
  std::vector<TraceRow> rows;
  rows.reserve(static_cast<size_t>(generator.remaining()));
  while (generator.remaining() > 0) rows.push_back(generator.next());
  return rows;
}

// A row that starts its conversation, or stands alone: it draws an arrival. The others
// follow the previous turn (TraceRow: a conversation's turns come in order, one after the
// other).
bool starts_conversation(const TraceRow& row) { return row.conversation < 0 || row.turn == 0; }

// Applies "an earlier turn was left out", max_prompt_len, max_total_len and num_requests in
// that order to rows in file order, counting drops. (A turn's prompt holds the turn before and
// its answer, so a turn after one that was too long is too long as well: it counts as after a
// dropped turn.)
class RowFilter {
 public:
  explicit RowFilter(const WorkloadConfig& c) : c_(c) {}

  // Is `row` kept, `kept` rows having been kept before it? A drop is counted in `report`.
  bool keep(const TraceRow& row, int64_t kept, WorkloadReport& report) {
    const bool follows_a_dropped_turn = row.conversation >= 0 && row.conversation == broken_;
    if (follows_a_dropped_turn) {
      ++report.filtered_after_turn;
    } else if (c_.max_prompt_len > 0 && row.prompt_len > c_.max_prompt_len) {
      ++report.filtered_prompt_len;
    } else if (c_.max_total_len > 0 && row.prompt_len + row.output_len > c_.max_total_len) {
      ++report.filtered_total_len;
    } else if (c_.num_requests > 0 && kept >= c_.num_requests) {
      ++report.beyond_num_requests;
    } else {
      return true;
    }
    if (row.conversation >= 0) broken_ = row.conversation;
    return false;
  }

 private:
  const WorkloadConfig& c_;
  int64_t broken_ = -1;  // the conversation a turn was left out of
};

std::vector<TraceRow> filter_rows(std::vector<TraceRow> rows, const WorkloadConfig& c,
                                  WorkloadReport& report) {
  std::vector<TraceRow> kept;
  kept.reserve(rows.size());
  RowFilter filter(c);
  for (auto& row : rows) {
    if (filter.keep(row, static_cast<int64_t>(kept.size()), report)) {
      kept.push_back(std::move(row));
    }
  }
  return kept;
}

// Arrivals of the rows that start conversations (`starts`: their indices in `rows`).
std::vector<double> arrival_times(ArrivalProcess arrival, const std::vector<TraceRow>& rows,
                                  const std::vector<size_t>& starts, const WorkloadConfig& c) {
  const auto count = static_cast<int64_t>(starts.size());
  switch (arrival) {
    case ArrivalProcess::kTrace: {
      std::vector<double> timestamps;
      timestamps.reserve(starts.size());
      for (size_t i : starts) timestamps.push_back(rows[i].timestamp_s);
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

// Every kept row's arrival: drawn for the rows that start conversations, in file order; a
// later turn gets its conversation's (only its place in the order: the Engine sets its real
// arrival when the previous turn ends).
std::vector<double> row_arrivals(ArrivalProcess arrival, const std::vector<TraceRow>& kept,
                                 const WorkloadConfig& c) {
  std::vector<size_t> starts;
  for (size_t i = 0; i < kept.size(); ++i) {
    if (starts_conversation(kept[i])) starts.push_back(i);
  }
  const std::vector<double> drawn = arrival_times(arrival, kept, starts, c);
  std::vector<double> arrivals(kept.size());
  size_t next = 0;
  for (size_t i = 0; i < kept.size(); ++i) {
    arrivals[i] = starts_conversation(kept[i]) ? drawn[next++] : arrivals[i - 1];
  }
  return arrivals;
}

// The system prompt a conversation starts with (workload.shared_prefix_len): conversation i
// (a standalone request is one), numbered by its first request's id, uses system prompt
// i % shared_prefix_groups, the first min(S, its first turn's prompt_len) tokens of it.
struct SystemPrompt {
  int64_t group = 0;
  int32_t len = 0;  // in this conversation
};

class SystemPrompts {
 public:
  explicit SystemPrompts(const WorkloadConfig& c) : c_(c) {}
  // The next conversation's, given its first request. REQUIRES: called in id order.
  SystemPrompt start(const RequestSpec& first) {
    return {conversations_++ % c_.shared_prefix_groups,
            std::min(c_.shared_prefix_len, first.prompt_len)};
  }

 private:
  const WorkloadConfig& c_;
  int64_t conversations_ = 0;
};

// Names one request's tokens (traces/request_names.h): the row's hash_ids, then its
// conversation's names or the system prompt of `prompt`.
void name_request(const WorkloadConfig& c, const TraceRow& row, SystemPrompt prompt,
                  RequestSpec& spec) {
  name_by_hash_ids(row.hash_ids, spec);
  if (row.conversation >= 0) {
    name_conversation_turn(conversation_name(c.seed, row.conversation), prompt.len,
                           system_prompt_name(c.seed, prompt.group), spec);
  } else if (c.shared_prefix_len > 0) {
    name_system_prompt(system_prompt_name(c.seed, prompt.group), c.shared_prefix_len, spec);
  }
}

// The names of every request, in id order. A trace that names its own prefixes (hash_ids)
// refuses a system prompt: its names describe its real prompts, which a made-up system prompt
// would contradict.
void name_requests(const WorkloadConfig& c, const std::vector<TraceRow>& kept,
                   const std::vector<size_t>& order, std::vector<RequestSpec>& requests) {
  if (c.shared_prefix_len > 0) {
    for (const TraceRow& row : kept) {
      if (!row.hash_ids.empty()) {
        throw InputError(c.trace, row.line, "workload.shared_prefix_len",
                         "the trace names its prompts' prefixes itself (hash_ids); a shared "
                         "system prompt would contradict them: set workload.shared_prefix_len = 0");
      }
    }
  }
  SystemPrompts system_prompts(c);
  std::vector<SystemPrompt> prompt(requests.size());  // of the request's conversation
  for (size_t id = 0; id < requests.size(); ++id) {
    RequestSpec& spec = requests[id];
    prompt[id] =
        spec.follows < 0 ? system_prompts.start(spec) : prompt[static_cast<size_t>(spec.follows)];
    name_request(c, kept[order[id]], prompt[id], spec);
  }
}

// Request `id` of `row` (names, and a turn's predecessor, are set apart).
RequestSpec request_of(const TraceRow& row, RequestId id, double arrival_s, int32_t n) {
  RequestSpec spec;
  spec.id = id;
  spec.arrival_s = arrival_s;
  spec.prompt_len = static_cast<int32_t>(row.prompt_len);
  spec.output_len = static_cast<int32_t>(row.output_len);
  spec.n = n;
  spec.source_line = row.line;
  return spec;
}

[[noreturn]] void fail_empty(const WorkloadReport& report, const std::vector<FormatDrop>& dropped) {
  std::string message = "no requests left: " + std::to_string(report.rows_read) + " rows read, " +
                        std::to_string(report.bad_rows_skipped) + " bad rows skipped, " +
                        std::to_string(report.filtered_prompt_len) +
                        " over workload.max_prompt_len, " +
                        std::to_string(report.filtered_total_len) + " over workload.max_total_len";
  if (report.filtered_after_turn > 0) {
    message += ", " + std::to_string(report.filtered_after_turn) +
               " conversation turns after a turn left out";
  }
  for (const auto& drop : dropped) {
    if (drop.count > 0)
      message += ", " + std::to_string(drop.count) + " dropped (" + drop.reason + ")";
  }
  throw InputError(report.source, 0, "", message);
}

// A synthetic workload generated one request at a time, in constant memory: the requests
// load_workload gives, field for field. Every synthetic row stands alone and generated
// arrivals never decrease, so arrival order is file order: request i is the i-th kept row,
// drawing the i-th arrival, and starts conversation i (its system prompt group).
class SyntheticSource final : public RequestSource {
 public:
  // Throws what load_workload throws for `config`, the empty result included.
  // REQUIRES: config validated (validate, check_synthetic).
  SyntheticSource(const WorkloadConfig& config, ArrivalProcess arrival)
      : config_(config),
        rows_(config_),
        filter_(config_),
        arrivals_(arrival, config_.rate, config_.burstiness, config_.seed),
        system_prompts_(config_) {
    report_.source = "synthetic";
    report_.format = "synthetic";
    report_.rows_read = config_.num_requests;
    // An empty result is refused here, as load_workload refuses it, not after a run started:
    // a copy of the rows is scanned to the first kept one (all of them when none is).
    SyntheticRows scan = rows_;
    RowFilter scan_filter = filter_;
    WorkloadReport counts = report_;
    while (scan.remaining() > 0) {
      if (scan_filter.keep(scan.next(), 0, counts)) return;
    }
    fail_empty(counts, {});
  }

  bool next(RequestSpec& out) override {
    while (rows_.remaining() > 0) {
      const TraceRow row = rows_.next();
      if (!filter_.keep(row, given_, report_)) continue;
      out = request_of(row, static_cast<RequestId>(given_), arrivals_.next(), config_.n);
      name_request(config_, row, system_prompts_.start(out), out);
      ++given_;
      return true;
    }
    return false;
  }

  int64_t max_requests() const override { return config_.num_requests; }
  const WorkloadReport& report() const override { return report_; }

 private:
  const WorkloadConfig config_;
  SyntheticRows rows_;
  RowFilter filter_;
  ArrivalGenerator arrivals_;
  SystemPrompts system_prompts_;
  WorkloadReport report_;
  int64_t given_ = 0;
};

// A trace's workload, read whole by load_workload (memory in proportion to the file), given
// one request at a time; each is moved out as it is given, and the rest freed at the end.
class LoadedSource final : public RequestSource {
 public:
  explicit LoadedSource(Workload workload)
      : workload_(std::move(workload)), total_(static_cast<int64_t>(workload_.requests.size())) {}

  bool next(RequestSpec& out) override {
    if (given_ == total_) {
      workload_.requests = {};
      return false;
    }
    out = std::move(workload_.requests[static_cast<size_t>(given_++)]);
    return true;
  }

  int64_t max_requests() const override { return total_; }
  const WorkloadReport& report() const override { return workload_.report; }

 private:
  Workload workload_;
  int64_t total_;
  int64_t given_ = 0;
};

}  // namespace

WorkloadDetails load_workload_with_details(const WorkloadConfig& c) {
  const ArrivalProcess arrival = parse_arrival_process(c.arrival);
  validate(c, arrival);
  WorkloadDetails details;
  WorkloadReport& report = details.workload.report;
  std::vector<TraceRow> rows;
  if (c.trace.empty()) {
    check_synthetic(c, arrival);
    report.source = "synthetic";
    report.format = "synthetic";
    rows = synthetic_rows(c);
  } else {
    TraceReadOptions options;
    options.skip_bad_rows = c.skip_bad_rows;
    options.multi_turn = c.multi_turn;
    options.columns = c.columns;
    options.arrival_unit = c.arrival_unit;
    TraceReadResult read = read_trace(c.trace, c.format, options);
    report.source = c.trace;
    report.format = read.format;
    if (c.multi_turn && !read.data.conversations) {
      throw InputError(c.trace, 0, "workload.multi_turn",
                       "trace format '" + read.format +
                           "' does not read conversations turn by turn; only sharegpt-json does");
    }
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
  const std::vector<double> arrivals = row_arrivals(arrival, kept, c);

  // A later turn has its conversation's arrival and comes after the turn before it in the
  // file, so the stable sort puts it after that turn: `follows` names an earlier request.
  std::vector<size_t> order(kept.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return arrivals[a] < arrivals[b]; });
  std::vector<RequestId> id_of(kept.size());
  for (size_t i = 0; i < order.size(); ++i) id_of[order[i]] = static_cast<RequestId>(i);
  std::mt19937_64 think_rng(derive_seed(c.seed, kThinkTimeStream));
  std::vector<double> think(kept.size(), 0.0);  // drawn in file order
  for (size_t i = 0; i < kept.size(); ++i) {
    if (!starts_conversation(kept[i]) && c.think_time_s > 0) {
      think[i] = exponential(think_rng, 1.0 / c.think_time_s);
    }
  }
  auto& requests = details.workload.requests;
  requests.reserve(kept.size());
  for (size_t i = 0; i < order.size(); ++i) {
    const size_t k = order[i];
    const TraceRow& row = kept[k];
    RequestSpec spec = request_of(row, static_cast<RequestId>(i), arrivals[k], c.n);
    if (!starts_conversation(row)) {
      check_invariant(k > 0 && kept[k - 1].conversation == row.conversation &&
                          kept[k - 1].turn + 1 == row.turn && id_of[k - 1] < spec.id,
                      "a conversation's turn does not follow the turn before it");
      spec.follows = id_of[k - 1];
      spec.think_time_s = think[k];
    }
    requests.push_back(std::move(spec));
  }
  name_requests(c, kept, order, requests);
  return details;
}

Workload load_workload(const WorkloadConfig& config) {
  WorkloadDetails details = load_workload_with_details(config);
  for (const FormatDrop& drop : details.dropped_by_format) {
    details.workload.report.dropped_by_format.emplace_back(drop.reason, drop.count);
  }
  return std::move(details.workload);
}

std::unique_ptr<RequestSource> open_workload(const WorkloadConfig& config) {
  if (!config.trace.empty()) return std::make_unique<LoadedSource>(load_workload(config));
  const ArrivalProcess arrival = parse_arrival_process(config.arrival);
  validate(config, arrival);
  check_synthetic(config, arrival);
  return std::make_unique<SyntheticSource>(config, arrival);
}

}  // namespace kvlab
