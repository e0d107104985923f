// Results files: HDF5 and the flat summary JSON. What they hold is core/results_schema.h (the
// writer and merge write and check what it lists); docs/results-format.md prints it.
//
// Every file is written whole or not at all, and only a regular file is ever replaced
// (app/output_files.h): an interrupted or failed run never leaves a half-written result, or a
// temporary, where a reader looks.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "app/output_files.h"
#include "core/engine.h"
#include "core/metrics.h"

namespace kvlab {

struct ResultsMeta {
  std::string command;      // the command line that produced the file
  std::string config_path;  // the experiment file
};

// Called after each point's group is written: the rows written so far (results_rows of the
// points written) and in all, for a "writing results" progress line.
using WriteProgress = std::function<void(size_t rows_written, size_t rows_total)>;

// The rows a point adds to the file (its requests and its steps): what writing time scales with.
size_t results_rows(const RunResult& point);

// For a program's first lines, before any other HDF5 call: HDF5 releases before 1.14.1 crash
// at exit when a file's close failed (HDFFV-11052: a full disk during the write leaves the file
// half-closed in the library's tables, which its exit handler then closes again). With this the
// library is not torn down at exit; kvlab closes each of its files itself.
void skip_hdf5_teardown_at_exit();

// A streamed point's rows (output.stream), written as they come: the engine's sink
// (core/engine.h), then finish() once the point ended.
class PointStream : public RecordSink {
 public:
  // Writes the rows still buffered, then the point's attributes, summary, replicas and
  // workload from `point` (its result, with no rows). Once, after every row.
  virtual void finish(const RunResult& point) = 0;
};

// A results file while it is written: created as a temporary of an OutputSet with the root's
// attributes, then each point's group, whole (write_point) or streamed (stream_point: the
// requests and steps tables grow, chunked, as rows come, so a long run holds none of them),
// then close() before the set commits. A streamed point's datasets hold the values a whole
// point's would (docs/results-format.md); only their chunking differs. Points may be written
// from several threads at once: one lock guards every HDF5 call (the library is not built to be
// shared between threads). Errors are InputError naming the path and option (a full disk).
class ResultsFile {
 public:
  ResultsFile(OutputSet& outputs, const std::string& path, const std::string& option,
              const ResultsMeta& meta, size_t num_points, size_t sweep_size);
  ~ResultsFile();
  ResultsFile(const ResultsFile&) = delete;
  ResultsFile& operator=(const ResultsFile&) = delete;

  void write_point(const RunResult& point);
  std::unique_ptr<PointStream> stream_point(size_t point_index);
  // Flushes and closes the file. REQUIRES: every stream finished or destroyed.
  void close();

  struct Impl;  // the writer's (app/results_writer.cc)

 private:
  std::unique_ptr<Impl> impl_;
};

// Writes every point of a run (one group each, in order) to `path`. Throws InputError naming
// `path` when it cannot be written; nothing is left then.
void write_results_hdf5(const std::string& path, const std::vector<RunResult>& points,
                        const ResultsMeta& meta);

// The same file, written to a temporary of `outputs` (for `option`, named in errors): it
// appears at `path` when outputs.commit() renames the whole set into place.
// `progress` (may be empty) is called after each point.
void stage_results_hdf5(OutputSet& outputs, const std::string& path, const std::string& option,
                        const std::vector<RunResult>& points, const ResultsMeta& meta,
                        const WriteProgress& progress = {});

// One JSON object per point: its index, label, summary values, output digest (real back ends,
// as hex) and resolved config, in that key order.
std::string summary_json(const std::vector<RunResult>& points);

// The text of every JSON file kvlab writes: `value` indented by one space, keys in insertion
// order, non-finite numbers as null, every double as the shortest text that parses back to
// it, invalid UTF-8 replaced by U+FFFD; a newline at the end.
std::string json_text(const nlohmann::ordered_json& value);

// The summary rows as an aligned text table (one row per point).
std::string summary_table(const std::vector<RunResult>& points);

}  // namespace kvlab

namespace kvlab {

// Joins the points of shard files (written by `kvlab run --shard I/N`) into `out`, the file a
// single run of the whole sweep would have written (same groups, datasets and attributes;
// the root's `command` and `created` say it was merged). Throws InputError naming the file
// when `out` cannot be written (checked first, as check_output_path), a shard is unreadable,
// two shards hold the same point, the shards come from sweeps of different sizes, or a point is
// missing. Writes nothing on error.
void merge_results_hdf5(const std::string& out, const std::vector<std::string>& shards,
                        const std::string& command);

}  // namespace kvlab
