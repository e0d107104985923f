// Reading a trace by format name, with auto-detection, and the account of rows a format's
// own rules drop (as opposed to malformed rows, which TraceData already counts).
//
// Why CountingTraceReader: core's TraceData has no place for rows a format drops on purpose
// (ShareGPT entries with fewer than two turns, vLLM's optional length pruning), yet every row
// a user gave must be accounted for. Readers that drop rows by rule derive from it; the
// others are plain TraceReaders and drop nothing.
//
// Thread safety: readers hold no state between calls, so different files may be read
// concurrently; the registry is filled during static initialization and only read after.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/workload.h"

namespace kvlab {

// Rows a format's rules dropped, by reason (not malformed: those are bad rows).
struct FormatDrop {
  std::string reason;
  int64_t count = 0;
};

struct TraceReadResult {
  std::string format;  // the reader used (the detected one for "auto")
  TraceData data;
  std::vector<FormatDrop> dropped;  // in a fixed order per format; counts may be 0
  int64_t num_dropped() const;
};

// A TraceReader whose format drops some rows by rule and counts them.
class CountingTraceReader : public TraceReader {
 public:
  virtual TraceReadResult read_counting(const std::string& path,
                                        const TraceReadOptions& options) const = 0;
  TraceData read(const std::string& path, const TraceReadOptions& options) const final {
    return read_counting(path, options).data;
  }
};

// The registered format whose detects() accepts the file (its name and first line). Throws
// InputError naming the file when it does not exist, when no format does, or when several do.
std::string detect_trace_format(const std::string& path);

// Reads `path` with the reader registered as `format` ("auto": detect_trace_format first).
// Throws InputError for an unknown format, a missing file and (unless skip_bad_rows) bad rows.
TraceReadResult read_trace(const std::string& path, const std::string& format,
                           const TraceReadOptions& options);

}  // namespace kvlab
