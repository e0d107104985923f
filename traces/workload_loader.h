// The workload loader, load_workload(): trace rows (or synthetic ones), then
// the length filters, then num_requests, then arrivals, then the requests sorted by arrival.
//
// Order and accounting (every row a user gave is counted once, in the first place it fell):
//   rows_read           rows the reader returned plus malformed rows it skipped
//   bad_rows_skipped    malformed rows (workload.on_bad_row = skip)
//   filtered_after_turn conversation turns (multi_turn) after a turn of theirs that was left
//                       out (by the filters below): a turn cannot follow one that never runs
//   filtered_prompt_len prompt_len > max_prompt_len (0 = off)
//   filtered_total_len  prompt_len + output_len > max_total_len (0 = off), prompt filter passed
//   beyond_num_requests rows left after the first num_requests valid rows (file order)
// so rows_read = bad_rows_skipped + num_filtered() + requests.size(). Rows a format's own
// rules drop (ShareGPT entries with < 2 turns, vLLM pruning, multi-turn's unanswered last
// messages) are not rows_read: they are counted apart, in WorkloadReport::dropped_by_format
// (load_workload fills it from load_workload_with_details' dropped_by_format).
//
// Arrivals: "trace" uses the kept rows' timestamps minus the earliest kept one (so the run
// starts with a request, not an idle lead-in that would dilute throughput), times time_scale;
// it is an error naming workload.arrival for formats without timestamps and for synthetic
// workloads. poisson / gamma / burst are drawn for the kept rows in file order (arrivals.h).
// time_scale applies to trace arrivals only.
//
// Multi-turn (workload.multi_turn, sharegpt-json only; an InputError naming the key for
// synthetic workloads and other formats): a row per turn (sharegpt_json_reader.h). Only a
// conversation's first turn draws an arrival; turn k > 0 follows turn k - 1's request
// (RequestSpec::follows) after a think time, exponential with mean workload.think_time_s
// (seed stream 6, drawn in file order; 0: none), and takes its conversation's arrival as
// its place in the order (the Engine sets the real one). num_requests counts turns.
//
// Synthetic workloads (workload.trace empty): num_requests (> 0) rows with lengths from
// workload.prompt_len / output_len (length_distribution.h), source_line 0, then the same
// filters; lengths and arrivals use separate seed streams, so changing the arrival process
// keeps the lengths.
//
// Output: requests sorted by arrival, ties in file order (stable), ids 0..n-1 in that order
// (a turn's predecessor has a smaller id), n = workload.n. Names for prefix caching
// (traces/request_names.h): a row's hash_ids name its prompt (512 tokens an entry); a turn
// names the conversation so far and its answer; with workload.shared_prefix_len = S > 0,
// conversation i (numbered by first request id; a standalone request is one) starts with
// system prompt i % shared_prefix_groups, its first min(S, prompt_len of its first turn)
// tokens (an InputError for a trace with hash_ids). An empty result (every row filtered or
// bad) is an InputError that gives the counts.
//
// One request at a time, open_workload(): the same requests in the same order, field for
// field, and once they are all given the same WorkloadReport. A synthetic workload is
// generated as it is read, in constant memory whatever num_requests (every synthetic row
// stands alone and generated arrivals never decrease, so arrival order is generation order);
// a trace is read whole by load_workload first (memory in proportion to the file: sorting by
// arrival and naming conversation turns need every row). Either way open_workload throws
// every InputError load_workload would, before the first next(): for a synthetic workload
// whose rows are all filtered it generates the lengths up to the first kept row once to know
// (all of them when none is), then again as it gives them.
#pragma once

#include <memory>
#include <vector>

#include "core/experiment.h"
#include "core/workload.h"
#include "traces/read_trace.h"

namespace kvlab {

struct WorkloadDetails {
  Workload workload;
  std::vector<FormatDrop> dropped_by_format;  // empty for synthetic workloads
};

// Throws InputError naming the workload.* key for invalid settings, and the file, line and
// field for malformed traces.
WorkloadDetails load_workload_with_details(const WorkloadConfig& config);

// Reads (or generates) the workload of `config`: reader, filters, num_requests, arrivals.
Workload load_workload(const WorkloadConfig& config);

// The workload of `config` as a RequestSource (above: lazy for synthetic workloads, a trace
// read whole). Throws what load_workload throws, before returning.
std::unique_ptr<RequestSource> open_workload(const WorkloadConfig& config);

}  // namespace kvlab
