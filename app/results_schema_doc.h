// The results schema (core/results_schema.h) as markdown tables: what `kvlab list results`
// prints and docs/results-format.md holds between its "kvlab list results" markers (a test
// fails when they differ; regenerate the block with `kvlab list results`).
//
// Pure function of static data: safe from any thread.
#pragma once

#include <string>

namespace kvlab {

// One "###" section per group of the HDF5 layout (the root, a point, requests, steps,
// workload), each a table of name, type, unit and meaning, then "### Summary names".
std::string results_schema_markdown();

}  // namespace kvlab
