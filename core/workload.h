// Workload: the requests a run replays (all at once, or one at a time from a RequestSource),
// and an account of every trace row that did not become a request (malformed rows skipped,
// rows filtered by length or count), so nothing a user gave is dropped silently. Built by
// traces/ (traces/workload_loader.h: readers, filters, arrival processes).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "core/experiment.h"
#include "core/registry.h"
#include "core/request.h"

namespace kvlab {

struct WorkloadReport {
  std::string source;               // trace path, or "synthetic"
  std::string format;               // the reader used
  int64_t rows_read = 0;            // data rows seen in the trace
  int64_t bad_rows_skipped = 0;     // malformed rows skipped (on_bad_row = skip)
  int64_t filtered_prompt_len = 0;  // prompt over max_prompt_len
  int64_t filtered_total_len = 0;   // prompt + output over max_total_len
  int64_t beyond_num_requests = 0;  // valid rows past num_requests
  // Conversation turns (workload.multi_turn) left out because an earlier turn of theirs was:
  // a follower cannot run without its predecessor.
  int64_t filtered_after_turn = 0;
  std::vector<std::string> bad_row_messages;  // the first few, for the user
  // Rows the format's own rules dropped before they were rows (ShareGPT entries with fewer
  // than two turns, vLLM's length pruning): (reason, count). Not part of rows_read.
  std::vector<std::pair<std::string, int64_t>> dropped_by_format;
  int64_t num_dropped_by_format() const {
    int64_t total = 0;
    for (const auto& [reason, count] : dropped_by_format) total += count;
    return total;
  }
  int64_t num_filtered() const {
    return filtered_prompt_len + filtered_total_len + beyond_num_requests + filtered_after_turn;
  }
};

struct Workload {
  std::vector<RequestSpec> requests;  // sorted by arrival, ids 0..n-1 in that order
  WorkloadReport report;
};

// A workload's requests one at a time, in arrival order, so a run need not hold them all
// (traces/workload_loader.h: open_workload(); a synthetic workload is generated as it is read,
// in constant memory). Not thread-safe: one reader at a time.
class RequestSource {
 public:
  virtual ~RequestSource() = default;
  // The next request in arrival order (ids 0, 1, ... in that order); false when none is left.
  virtual bool next(RequestSpec& out) = 0;
  // At most how many requests next() will give in all (for progress lines).
  virtual int64_t max_requests() const = 0;
  // The workload's account (rows read, filtered, ...): complete once next() returned false.
  virtual const WorkloadReport& report() const = 0;
};

// One trace row as a reader sees it, before arrivals and filters.
struct TraceRow {
  double timestamp_s = -1.0;  // < 0: the format has no timestamps
  int64_t prompt_len = 0;
  int64_t output_len = 0;
  std::vector<uint64_t> hash_ids;  // Mooncake: one per 512-token block of the prompt
  int64_t line = 0;
  // A conversation's turn (TraceReadOptions::multi_turn): conversation >= 0 numbers the
  // conversation in file order, turn its turns 0, 1, ...; a conversation's turns come in order,
  // one after the other. -1: a standalone row.
  int64_t conversation = -1;
  int32_t turn = 0;
};

struct TraceReadOptions {
  bool skip_bad_rows = false;
  // Read conversations turn by turn (workload.multi_turn). A format that cannot leaves
  // TraceData::conversations false and reads as usual; the caller refuses that.
  bool multi_turn = false;
  // The generic readers (formats csv and jsonl): workload.columns, which columns hold the
  // arrival, prompt and output, and workload.arrival_unit (traces/column_mapping.h). Empty
  // for the named formats.
  std::string columns;
  std::string arrival_unit = "s";
};

struct TraceData {
  std::vector<TraceRow> rows;
  int64_t bad_rows_skipped = 0;
  std::vector<std::string> bad_row_messages;
  bool has_timestamps = false;
  bool conversations = false;  // rows are conversation turns (multi_turn honoured)
};

// A trace format. read() throws InputError naming file, line and field for a malformed
// row unless options.skip_bad_rows, in which case it counts the row and moves on.
class TraceReader {
 public:
  virtual ~TraceReader() = default;
  virtual std::string name() const = 0;
  // Can this reader parse a file with this name whose first line is `first_line`?
  virtual bool detects(const std::string& path, const std::string& first_line) const = 0;
  virtual TraceData read(const std::string& path, const TraceReadOptions& options) const = 0;
};

struct TraceReaderConfig {};
using TraceReaderRegistry = Registry<TraceReader, TraceReaderConfig>;
TraceReaderRegistry& trace_readers();

}  // namespace kvlab
