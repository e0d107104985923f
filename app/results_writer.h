// Results files: HDF5 and the flat summary JSON. What they hold is core/results_schema.h (the
// writer and merge write and check what it lists); docs/results-format.md prints it.
//
// A file is written to PATH.partial and renamed over PATH only when complete, so an
// interrupted or failed run never leaves a half-written result where a reader expects one.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

#include "core/metrics.h"

namespace kvlab {

struct ResultsMeta {
  std::string command;        // the command line that produced the file
  std::string config_path;    // the experiment file
};

// Writes every point of a run (one group each, in order) to `path`.
void write_results_hdf5(const std::string& path, const std::vector<RunResult>& points,
                        const ResultsMeta& meta);

// One JSON object per point: its index, label, summary values, output digest (real back ends,
// as hex) and resolved config, in that key order.
std::string summary_json(const std::vector<RunResult>& points);

// The text of every JSON file kvlab writes: `value` indented by one space, keys in insertion
// order, non-finite numbers as null, every double as the shortest text that parses back to
// it, invalid UTF-8 replaced by U+FFFD; a newline at the end.
std::string json_text(const nlohmann::ordered_json& value);

// Checks, before anything runs, that a result can be written to `path`: its folder exists and
// is writable, and `path` is not something other than a regular file (a folder, a device).
// Throws InputError naming the path and `option` (--out, --summary-json).
void check_output_path(const std::string& path, const std::string& option);

// Writes `text` to `path` atomically (temporary file + rename).
void write_file_atomically(const std::string& path, const std::string& text);

// The summary rows as an aligned text table (one row per point).
std::string summary_table(const std::vector<RunResult>& points);

}  // namespace kvlab

namespace kvlab {

// Joins the points of shard files (written by `kvlab run --shard I/N`) into `out`, the file a
// single run of the whole sweep would have written (same groups, datasets and attributes;
// the root's `command` and `created` say it was merged). Throws InputError naming the file
// when a shard is unreadable, two shards hold the same point, the shards come from sweeps of
// different sizes, or a point is missing. Writes nothing on error.
void merge_results_hdf5(const std::string& out, const std::vector<std::string>& shards,
                        const std::string& command);

}  // namespace kvlab
