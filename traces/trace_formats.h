// The trace formats (workload.format), each registered by a function here that
// app/builtins.cc calls: length-csv, timed-csv, azure-csv, burstgpt-csv and csv (any CSV, its
// columns named by workload.columns) (csv_trace_reader.cc), jsonl (mapped_jsonl_reader.cc),
// mooncake-jsonl, sharegpt-json and sharegpt-json-vllm, and "auto", which detects the format
// from the file (read_trace.h).
#pragma once

#include "core/workload.h"

namespace kvlab {

void register_csv_trace_readers(TraceReaderRegistry& registry);
void register_mooncake_jsonl_reader(TraceReaderRegistry& registry);
void register_mapped_jsonl_reader(TraceReaderRegistry& registry);
void register_sharegpt_json_readers(TraceReaderRegistry& registry);
void register_auto_trace_reader(TraceReaderRegistry& registry);

}  // namespace kvlab
