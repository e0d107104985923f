#include "core/results_schema.h"

#include <cstdio>
#include <limits>
#include <type_traits>

namespace kvlab {

namespace {

// The value of the data member `M` of a row, as a Cell.
template <typename Row, auto M>
Cell member(const Row& row) {
  using T = std::remove_cvref_t<decltype(row.*M)>;
  if constexpr (std::is_floating_point_v<T>) {
    return static_cast<double>(row.*M);
  } else if constexpr (std::is_integral_v<T>) {
    return static_cast<int64_t>(row.*M);
  } else {
    return std::string(row.*M);
  }
}

template <auto M>
constexpr auto request = &member<RequestRecord, M>;
template <auto M>
constexpr auto step = &member<StepRecord, M>;
template <auto M>
constexpr auto workload = &member<WorkloadReport, M>;
template <auto M>
constexpr auto replica = &member<ReplicaResult, M>;

constexpr ValueType kI8 = ValueType::kInt8, kI32 = ValueType::kInt32, kI64 = ValueType::kInt64,
                    kF32 = ValueType::kFloat32, kF64 = ValueType::kFloat64,
                    kStr = ValueType::kString;

const ColumnSpec<RequestRecord> kRequestColumns[] = {
    {{"id", kI64, "", "the request's id: its index in arrival order"}, request<&RequestRecord::id>},
    {{"trace_line", kI64, "line", "the trace line it came from (0 for generated requests)"},
     request<&RequestRecord::trace_line>},
    {{"arrival_s", kF64, "s", "when it arrived"}, request<&RequestRecord::arrival_s>},
    {{"first_scheduled_s", kF64, "s", "when a step first ran it (-1: never)"},
     request<&RequestRecord::first_scheduled_s>},
    {{"first_token_s", kF64, "s", "when its first output token was generated (-1: never)"},
     request<&RequestRecord::first_token_s>},
    {{"finish_s", kF64, "s", "when its last sample finished (-1: never)"},
     request<&RequestRecord::finish_s>},
    {{"prompt_len", kI32, "tokens", "prompt length"}, request<&RequestRecord::prompt_len>},
    {{"output_len", kI32, "tokens", "output length asked for, per sample"},
     request<&RequestRecord::output_len>},
    {{"n", kI32, "samples", "parallel samples (sampling.n)"}, request<&RequestRecord::n>},
    {{"generated_tokens", kI64, "tokens", "tokens generated, all samples"},
     request<&RequestRecord::generated_tokens>},
    {{"num_preemptions", kI32, "count", "times it was preempted"},
     request<&RequestRecord::num_preemptions>},
    {{"num_recomputes", kI32, "count", "preemptions by recomputation"},
     request<&RequestRecord::num_recomputes>},
    {{"num_swaps", kI32, "count", "preemptions by swapping out"},
     request<&RequestRecord::num_swaps>},
    {{"outcome", kI8, "", "how it ended, coded as the group's attribute outcome_codes says"},
     [](const RequestRecord& r) -> Cell { return static_cast<int64_t>(r.outcome); }},
    {{"cached_prompt_tokens", kI32, "tokens",
      "prefix cache: prompt tokens its first admission found cached (-1: never admitted)"},
     request<&RequestRecord::cached_prompt_tokens>},
    {{"cached_tokens", kI64, "tokens",
      "prefix cache: tokens found cached over all its admissions (recompute included)"},
     request<&RequestRecord::cached_tokens>},
    {{"reject_reason", kStr, "", "why it was rejected (\"\" unless rejected)"},
     request<&RequestRecord::reject_reason>},
    {{"replica", kI32, "", "cluster: the replica that served it (disaggregated: its decode "
                           "replica; 0 with one replica)"},
     request<&RequestRecord::replica>},
    {{"prefill_replica", kI32, "",
      "cluster, disaggregated: the replica that computed its prompt (-1 otherwise)"},
     request<&RequestRecord::prefill_replica>},
    {{"kv_transfer_s", kF64, "s",
      "cluster, disaggregated: time its KV spent moving from the prefill replica to the decode "
      "replica, waiting for links included (0 otherwise)"},
     request<&RequestRecord::kv_transfer_s>},
};

const ColumnSpec<ReplicaResult> kReplicaColumns[] = {
    {{"replica", kI32, "", "the replica's index in the cluster"}, replica<&ReplicaResult::index>},
    {{"name", kStr, "", "its [replica.NAME] group (\"\" when the replicas are alike)"},
     replica<&ReplicaResult::name>},
    {{"role", kStr, "", "mixed, prefill or decode"}, replica<&ReplicaResult::role>},
    {{"hardware", kStr, "", "its hardware.name"}, replica<&ReplicaResult::hardware>},
    {{"memory_policy", kStr, "", "its memory.policy"}, replica<&ReplicaResult::memory_policy>},
    {{"tensor_parallel", kI32, "GPUs", "its model.tensor_parallel"},
     replica<&ReplicaResult::tensor_parallel>},
    {{"capacity_slots", kI64, "slots", "its KV capacity"}, replica<&ReplicaResult::capacity_slots>},
    {{"requests", kI64, "requests", "requests routed to it"}, replica<&ReplicaResult::requests>},
};

// A share of the memory breakdown, in slots.
template <int64_t MemoryBreakdown::*M>
Cell memory(const StepRecord& s) {
  return s.memory.*M;
}

const ColumnSpec<StepRecord> kStepColumns[] = {
    {{"replica", kI32, "", "cluster: the replica that ran it (0 with one replica)"},
     step<&StepRecord::replica>},
    {{"time_s", kF64, "s", "when the step started"}, step<&StepRecord::time_s>},
    {{"duration_s", kF64, "s", "how long it ran"}, step<&StepRecord::duration_s>},
    {{"batch_size", kI32, "sequences", "sequences that processed tokens"},
     step<&StepRecord::batch_size>},
    {{"num_prefill_seqs", kI32, "sequences", "of which prefilling"},
     step<&StepRecord::num_prefill_seqs>},
    {{"num_decode_seqs", kI32, "sequences", "of which decoding"},
     step<&StepRecord::num_decode_seqs>},
    {{"prefill_tokens", kI64, "tokens", "prompt tokens processed"},
     step<&StepRecord::prefill_tokens>},
    {{"decode_tokens", kI64, "tokens", "output tokens processed"},
     step<&StepRecord::decode_tokens>},
    {{"num_running", kI32, "groups", "groups in the running queue, after scheduling"},
     step<&StepRecord::num_running>},
    {{"num_waiting", kI32, "groups", "groups waiting, after scheduling"},
     step<&StepRecord::num_waiting>},
    {{"num_swapped", kI32, "groups", "groups swapped out, after scheduling"},
     step<&StepRecord::num_swapped>},
    {{"kv_token_states", kI64, "slots",
      "KV slots holding token states (the six kv_ columns sum to kv_capacity_slots; taken "
      "after scheduling, before the step runs)"},
     memory<&MemoryBreakdown::token_states>},
    {{"kv_reserved", kI64, "slots", "KV slots reserved for tokens not yet generated"},
     memory<&MemoryBreakdown::reserved>},
    {{"kv_internal_frag", kI64, "slots", "KV slots lost to internal fragmentation"},
     memory<&MemoryBreakdown::internal_frag>},
    {{"kv_external_frag", kI64, "slots", "KV slots lost to external fragmentation"},
     memory<&MemoryBreakdown::external_frag>},
    {{"kv_free", kI64, "slots", "free KV slots"}, memory<&MemoryBreakdown::free>},
    {{"preempted_recompute", kI32, "groups", "groups preempted by recomputation"},
     step<&StepRecord::num_preempted_recompute>},
    {{"preempted_swap", kI32, "groups", "groups preempted by swapping out"},
     step<&StepRecord::num_preempted_swap>},
    {{"swap_out_bytes", kI64, "bytes", "KV bytes swapped out to the host"},
     step<&StepRecord::swap_out_bytes>},
    {{"swap_in_bytes", kI64, "bytes", "KV bytes swapped in from the host"},
     step<&StepRecord::swap_in_bytes>},
    {{"copy_bytes", kI64, "bytes", "KV bytes copied (copy-on-write and fork copies)"},
     step<&StepRecord::copy_bytes>},
    {{"kv_cached", kI64, "slots",
      "prefix cache: slots of cached blocks no running request holds (evictable)"},
     memory<&MemoryBreakdown::cached>},
    {{"cached_blocks", kI64, "blocks", "prefix cache: blocks findable by content after the step"},
     step<&StepRecord::cached_blocks>},
    {{"cache_hit_blocks", kI64, "blocks", "prefix cache: blocks admissions found cached"},
     step<&StepRecord::cache_hit_blocks>},
    {{"evicted_blocks", kI64, "blocks", "prefix cache: cached blocks evicted for new ones"},
     step<&StepRecord::evicted_blocks>},
    {{"vmm_pages_mapped", kI64, "pages",
      "virtual memory: physical pages (one per layer and K/V tensor) mapped since the previous "
      "step's scheduling, up to this one's"},
     step<&StepRecord::vmm_pages_mapped>},
    {{"vmm_pages_unmapped", kI64, "pages", "virtual memory: physical pages unmapped, likewise"},
     step<&StepRecord::vmm_pages_unmapped>},
    {{"kv_virtual_reserved", kI64, "slots",
      "virtual memory: token slots of virtual address space reserved by ranges in use (costs "
      "no physical memory; not part of the kv_ breakdown)"},
     step<&StepRecord::kv_virtual_reserved>},
    {{"vmm_calls", kI64, "calls",
      "real virtual memory (memory.policy = virtual): the calls the step made to map and "
      "unmap pages (cpu back end: mmap; cuda: cuMemMap, cuMemSetAccess, cuMemUnmap; 0 "
      "elsewhere)"},
     step<&StepRecord::vmm_calls>},
    {{"vmm_s", kF64, "s",
      "real virtual memory: the measured seconds of those calls (part of duration_s; the "
      "simulator's modeled mapping time is cost_vmm_s)"},
     step<&StepRecord::vmm_s>},
    {{"mfu", kF32, "fraction",
      "model FLOPs utilization: the step's FLOPs / (duration_s x the hardware's peak FLOP/s), "
      "per GPU (NaN on the cpu back end)"},
     step<&StepRecord::mfu>},
    {{"mbu", kF32, "fraction",
      "memory-bandwidth utilization: the step's HBM bytes / (duration_s x the peak bandwidth), "
      "per GPU (NaN on the cpu back end)"},
     step<&StepRecord::mbu>},
};

const ColumnSpec<WorkloadReport> kWorkloadAttributes[] = {
    {{"source", kStr, "", "the trace's path, or \"synthetic\""}, workload<&WorkloadReport::source>},
    {{"format", kStr, "", "the trace reader used (workload.format)"},
     workload<&WorkloadReport::format>},
    {{"rows_read", kI64, "rows", "data rows seen in the trace"},
     workload<&WorkloadReport::rows_read>},
    {{"bad_rows_skipped", kI64, "rows", "malformed rows skipped (on_bad_row = skip)"},
     workload<&WorkloadReport::bad_rows_skipped>},
    {{"filtered_prompt_len", kI64, "rows", "rows whose prompt is over max_prompt_len"},
     workload<&WorkloadReport::filtered_prompt_len>},
    {{"filtered_total_len", kI64, "rows", "rows whose prompt + output is over max_total_len"},
     workload<&WorkloadReport::filtered_total_len>},
    {{"beyond_num_requests", kI64, "rows", "valid rows past num_requests"},
     workload<&WorkloadReport::beyond_num_requests>},
    {{"filtered_after_turn", kI64, "rows",
      "conversation turns left out because an earlier turn was (workload.multi_turn)"},
     workload<&WorkloadReport::filtered_after_turn>},
};

double count(int64_t n) { return static_cast<double>(n); }
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Percentile P of the distribution V, and its mean.
template <auto V, int P>
double pct(const RunTotals& t) {
  return (t.*V).percentile(P);
}
template <auto V>
double mean_of(const RunTotals& t) {
  return (t.*V).mean();
}
template <auto V>
double any_pct(const RunTotals& t, double p) {
  return (t.*V).percentile(p);
}
template <int P>
double itl_pct(const RunTotals& t) {
  return t.itl.percentile(P);
}
double per_second(double amount, const RunTotals& t) {
  return t.duration_s > 0 ? amount / t.duration_s : 0.0;
}

const DistributionSpec kDistributions[] = {
    {"ttft", "_s", any_pct<&RunTotals::ttft>},
    {"tpot", "_s", any_pct<&RunTotals::tpot>},
    {"itl", "_s", any_pct<&RunTotals::itl>},
    {"e2el", "_s", any_pct<&RunTotals::e2el>},
    {"sched_delay", "_s", any_pct<&RunTotals::sched_delay>},
    {"batch_size", "", any_pct<&RunTotals::batch_sizes>},
};
double ratio(int64_t part, int64_t whole) {
  return whole > 0 ? static_cast<double>(part) / static_cast<double>(whole) : 0.0;
}

// The order is DESIGN.md's list, then what it needs to be read correctly.
const SummarySpec kSummaries[] = {
    {"num_requests", "requests", "requests in the workload (after filters)",
     [](const RunTotals& t) { return count(t.requests); }},
    {"duration_s", "s", "first arrival to last finish",
     [](const RunTotals& t) { return t.duration_s; }},
    {"throughput_req_s", "requests/s", "finished requests per second of duration_s",
     [](const RunTotals& t) { return t.duration_s > 0 ? t.finished / t.duration_s : 0.0; }},
    {"throughput_tok_s", "tokens/s", "generated tokens per second of duration_s",
     [](const RunTotals& t) { return t.duration_s > 0 ? t.generated / t.duration_s : 0.0; }},
    {"normalized_latency_s_per_tok", "s/token",
     "mean over finished requests of (finish - arrival) / output_len (vLLM's metric)",
     [](const RunTotals& t) { return t.mean_normalized; }},
    {"ttft_p50_s", "s", "median time to first token (first token - arrival) of finished requests",
     [](const RunTotals& t) { return t.ttft.percentile(50); }},
    {"ttft_p99_s", "s", "99th percentile of the time to first token",
     [](const RunTotals& t) { return t.ttft.percentile(99); }},
    {"tpot_p50_s", "s",
     "median time per output token after the first: (finish - first token) / (output_len - 1)",
     [](const RunTotals& t) { return t.tpot.percentile(50); }},
    {"tpot_p99_s", "s", "99th percentile of the time per output token",
     [](const RunTotals& t) { return t.tpot.percentile(99); }},
    {"mean_batch_size", "sequences", "sequences per step, time-weighted",
     [](const RunTotals& t) { return t.average(t.batch_time); }},
    {"kv_capacity_slots", "slots", "token slots in the KV cache (a cluster: all its replicas')",
     [](const RunTotals& t) { return count(t.capacity_slots); }},
    {"kv_token_states_frac", "fraction", "time-weighted share of the capacity holding token states",
     [](const RunTotals& t) { return t.average(t.memory_time[0]); }},
    {"kv_reserved_frac", "fraction", "time-weighted share reserved for tokens not yet generated",
     [](const RunTotals& t) { return t.average(t.memory_time[1]); }},
    {"kv_internal_frag_frac", "fraction", "time-weighted share lost to internal fragmentation",
     [](const RunTotals& t) { return t.average(t.memory_time[2]); }},
    {"kv_external_frag_frac", "fraction", "time-weighted share lost to external fragmentation",
     [](const RunTotals& t) { return t.average(t.memory_time[3]); }},
    {"kv_free_frac", "fraction", "time-weighted share free (the six kv_*_frac sum to 1)",
     [](const RunTotals& t) { return t.average(t.memory_time[4]); }},
    {"num_preemptions", "count", "preemptions of all requests",
     [](const RunTotals& t) { return count(t.preemptions); }},
    {"num_rejected", "requests", "requests rejected (reasons in requests/reject_reason)",
     [](const RunTotals& t) { return count(t.rejected); }},
    {"wall_s", "s", "seconds this point took to run on this machine",
     [](const RunTotals& t) { return t.wall_s; }},
    {"num_finished", "requests", "requests that finished",
     [](const RunTotals& t) { return count(t.finished); }},
    {"num_unfinished", "requests", "requests neither finished nor rejected when the run ended",
     [](const RunTotals& t) { return count(t.unfinished); }},
    {"num_filtered", "rows",
     "trace rows left out by max_prompt_len, max_total_len, num_requests, an earlier turn",
     [](const RunTotals& t) { return count(t.run->workload.num_filtered()); }, true},
    {"num_bad_rows_skipped", "rows", "malformed trace rows skipped",
     [](const RunTotals& t) { return count(t.run->workload.bad_rows_skipped); }, true},
    {"num_dropped_by_format", "rows", "trace entries a format's own rules dropped",
     [](const RunTotals& t) { return count(t.run->workload.num_dropped_by_format()); }, true},
    {"generated_tokens", "tokens", "tokens generated by finished requests, all samples",
     [](const RunTotals& t) { return count(t.generated); }},
    {"num_steps", "steps",
     "engine steps run (the steps table's rows, unless output.record_steps = false)",
     [](const RunTotals& t) { return count(t.num_steps); }},
    // The vLLM paper's "effective memory" (96.3% for vLLM, 20.4% for Orca-Max).
    {"kv_token_states_of_used_frac", "fraction",
     "token states / (capacity - free): the vLLM paper's \"effective\" share",
     [](const RunTotals& t) {
       const double* m = t.memory_time;
       const double used = m[0] + m[1] + m[2] + m[3];
       return used > 0 ? m[0] / used : 0.0;
     }},
    // Counts running requests whether or not a step processed them (a prefill-only step runs
    // just the new prompts).
    {"mean_running_requests", "requests",
     "requests in the running queue, time-weighted: the paper's \"batched requests\" (Fig. 13)",
     [](const RunTotals& t) { return t.average(t.running_time); }},
    {"kv_cached_frac", "fraction",
     "time-weighted share held by the prefix cache's evictable blocks",
     [](const RunTotals& t) { return t.average(t.memory_time[5]); }},
    {"prefix_hit_rate", "fraction",
     "prompt tokens first admissions found cached / prompt tokens, all requests",
     [](const RunTotals& t) { return ratio(t.cached_prompt_tokens, t.prompt_tokens); }},
    {"prefix_block_hit_rate", "fraction",
     "prompt blocks first admissions found cached / prompt blocks a cache could serve (NaN "
     "without prefix caching)",
     [](const RunTotals& t) {
       const PrefixReuseBound& b = t.run->prefix_bound;
       if (!t.run->prefix_cache.enabled) return std::numeric_limits<double>::quiet_NaN();
       return ratio(t.cached_prompt_tokens / t.run->prefix_cache.block_size, b.prompt_blocks);
     }},
    {"prefix_hit_rate_bound", "fraction",
     "prefix_hit_rate an unbounded cache would reach on the same requests in the same order "
     "(NaN without prefix caching)",
     [](const RunTotals& t) {
       if (!t.run->prefix_cache.enabled) return std::numeric_limits<double>::quiet_NaN();
       return ratio(t.run->prefix_bound.hit_tokens, t.run->prefix_bound.prompt_tokens);
     }},
    {"prefill_tokens_saved", "tokens",
     "tokens every admission found cached, re-admissions after recompute included",
     [](const RunTotals& t) { return count(t.cached_tokens); }},
    {"num_evicted_blocks", "blocks", "prefix cache: cached blocks evicted",
     [](const RunTotals& t) { return count(t.run->prefix_cache.evicted_blocks); }},
    {"vmm_pages_mapped", "pages",
     "virtual memory: physical pages mapped over the run (one per layer and K/V tensor; 0 for "
     "policies that map none)",
     [](const RunTotals& t) { return count(t.run->virtual_memory.pages_mapped); }},
    {"vmm_pages_unmapped", "pages", "virtual memory: physical pages unmapped over the run",
     [](const RunTotals& t) { return count(t.run->virtual_memory.pages_unmapped); }},
    {"vmm_calls", "calls",
     "real virtual memory (memory.policy = virtual): calls made to map and unmap pages over "
     "the run (cpu back end: mmap; cuda: cuMemMap, cuMemSetAccess, cuMemUnmap; 0 elsewhere)",
     [](const RunTotals& t) { return count(t.vmm_calls); }},
    {"vmm_s", "s", "real virtual memory: the measured seconds of those calls",
     [](const RunTotals& t) { return t.vmm_s; }},
    // vLLM benchmark_serving's latency set (docs/results-format.md compares the names). Of
    // finished requests, like ttft_p50_s; percentiles interpolate as numpy's do.
    {"ttft_mean_s", "s", "mean time to first token", mean_of<&RunTotals::ttft>},
    {"ttft_p90_s", "s", "90th percentile of the time to first token", pct<&RunTotals::ttft, 90>},
    {"tpot_mean_s", "s", "mean time per output token after the first (output_len > 1)",
     mean_of<&RunTotals::tpot>},
    {"tpot_p90_s", "s", "90th percentile of the time per output token", pct<&RunTotals::tpot, 90>},
    {"e2el_mean_s", "s", "mean end-to-end latency (finish - arrival) of finished requests",
     mean_of<&RunTotals::e2el>},
    {"e2el_p50_s", "s", "median end-to-end latency", pct<&RunTotals::e2el, 50>},
    {"e2el_p90_s", "s", "90th percentile of the end-to-end latency", pct<&RunTotals::e2el, 90>},
    {"e2el_p99_s", "s", "99th percentile of the end-to-end latency", pct<&RunTotals::e2el, 99>},
    {"sched_delay_mean_s", "s",
     "mean scheduling delay (first scheduled - arrival) of finished requests",
     mean_of<&RunTotals::sched_delay>},
    {"sched_delay_p50_s", "s", "median scheduling delay", pct<&RunTotals::sched_delay, 50>},
    {"sched_delay_p90_s", "s", "90th percentile of the scheduling delay",
     pct<&RunTotals::sched_delay, 90>},
    {"sched_delay_p99_s", "s", "99th percentile of the scheduling delay",
     pct<&RunTotals::sched_delay, 99>},
    {"batch_size_p50", "sequences", "median sequences per step, over recorded steps (unweighted)",
     pct<&RunTotals::batch_sizes, 50>},
    {"batch_size_p90", "sequences", "90th percentile of the sequences per step",
     pct<&RunTotals::batch_sizes, 90>},
    {"batch_size_p99", "sequences", "99th percentile of the sequences per step",
     pct<&RunTotals::batch_sizes, 99>},
    {"throughput_total_tok_s", "tokens/s",
     "prompt and generated tokens of finished requests per second of duration_s",
     [](const RunTotals& t) {
       return per_second(count(t.finished_prompt_tokens + t.generated), t);
     }},
    {"goodput_req_s", "requests/s",
     "finished requests meeting every SLO set (output.slo_*_ms) per second of duration_s",
     [](const RunTotals& t) { return per_second(count(t.slo_met), t); }},
    {"slo_attainment", "fraction",
     "requests meeting every SLO set / num_requests (rejected and unfinished ones miss)",
     [](const RunTotals& t) {
       return ratio(t.slo_met, t.requests);
     }},
    // vLLM's ITL: every gap between consecutive tokens of a sample (requests/itl_s).
    {"itl_mean_s", "s", "mean inter-token latency, over every gap of finished requests' samples",
     mean_of<&RunTotals::itl>},
    {"itl_p50_s", "s", "median inter-token latency", itl_pct<50>},
    {"itl_p90_s", "s", "90th percentile of the inter-token latency", itl_pct<90>},
    {"itl_p99_s", "s", "99th percentile of the inter-token latency", itl_pct<99>},
    {"mfu_mean", "fraction",
     "steps' mfu, time-weighted: all steps' FLOPs / (their seconds x peak FLOP/s) (NaN without "
     "steps or peaks)",
     [](const RunTotals& t) { return t.step_time > 0 ? t.mfu_time / t.step_time : kNaN; }},
    {"mbu_mean", "fraction",
     "steps' mbu, time-weighted: all steps' HBM bytes / (their seconds x peak bandwidth)",
     [](const RunTotals& t) { return t.step_time > 0 ? t.mbu_time / t.step_time : kNaN; }},
    // The KV cache in bytes (memory.kv_dtype, scales included): the kv_*_frac shares of it
    // are the memory breakdown in bytes.
    {"kv_bytes_per_slot", "bytes",
     "bytes one token slot takes on one GPU, K and V of every layer as memory.kv_dtype stores "
     "them (scales included; auto: the model's dtype)",
     [](const RunTotals& t) { return static_cast<double>(t.run->kv_bytes_per_slot); }},
    {"kv_capacity_gib", "GiB", "kv_capacity_slots x kv_bytes_per_slot: the KV cache per GPU (a cluster: the sum over its "
     "replicas of each one's)",
     [](const RunTotals& t) {
       return static_cast<double>(t.capacity_slots) * static_cast<double>(t.run->kv_bytes_per_slot) /
              (1024.0 * 1024.0 * 1024.0);
     }},
    {"profile_out_of_range_steps", "steps",
     "steps the profiled cost model priced with a size off its profile's grid (extrapolated "
     "linearly; 0 for every other back end and cost model)",
     [](const RunTotals& t) { return count(t.run->profile_out_of_range_steps); }},
};

const FieldSpec kRootAttributes[] = {
    results::kKvlabVersion, results::kFormat,    results::kCreated,  results::kCommand,
    results::kConfigPath,   results::kNumPoints, results::kSweepSize};
const FieldSpec kPointAttributes[] = {results::kLabel, results::kDisplayLabel, results::kAxes,
                                      results::kAxisLabels, results::kPointIndex,
                                      results::kConfigAttribute, results::kSummaryAttribute,
                                      results::kOutputDigest};
const FieldSpec kTokenDatasets[] = {results::kTokenIds, results::kTokenOffsets,
                                    results::kTokenRequest, results::kTokenSample};
const FieldSpec kItlDatasets[] = {results::kItl, results::kItlOffsets};
const FieldSpec kWorkloadDatasets[] = {results::kBadRowMessages, results::kDroppedByFormatReason,
                                       results::kDroppedByFormatCount};

}  // namespace

const char* value_type_name(ValueType type) {
  switch (type) {
    case ValueType::kInt8:
      return "int8";
    case ValueType::kInt32:
      return "int32";
    case ValueType::kInt64:
      return "int64";
    case ValueType::kUint64:
      return "uint64";
    case ValueType::kFloat32:
      return "float32";
    case ValueType::kFloat64:
      return "float64";
    case ValueType::kString:
      return "string";
  }
  return "?";
}

std::span<const ColumnSpec<RequestRecord>> request_columns() { return kRequestColumns; }
std::span<const ColumnSpec<StepRecord>> step_columns() { return kStepColumns; }
std::span<const ColumnSpec<ReplicaResult>> replica_columns() { return kReplicaColumns; }
std::span<const ColumnSpec<WorkloadReport>> workload_attributes() { return kWorkloadAttributes; }
std::span<const SummarySpec> summary_specs() { return kSummaries; }
std::span<const DistributionSpec> summary_distributions() { return kDistributions; }

bool is_fixed_percentile(double p) { return p == 50 || p == 90 || p == 99; }

std::string percentile_label(double p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.15g", p);
  std::string s = buf;
  for (char& c : s) {
    if (c == '.') c = '_';
  }
  return s;
}

std::string distribution_percentile_name(const DistributionSpec& d, double p) {
  return std::string(d.name) + "_p" + percentile_label(p) + d.suffix;
}
std::span<const FieldSpec> root_attributes() { return kRootAttributes; }
std::span<const FieldSpec> point_attributes() { return kPointAttributes; }
std::span<const FieldSpec> token_datasets() { return kTokenDatasets; }
std::span<const FieldSpec> itl_datasets() { return kItlDatasets; }
std::span<const FieldSpec> workload_datasets() { return kWorkloadDatasets; }

std::string cost_column(const std::string& term) { return "cost_" + term + "_s"; }

std::string point_group_name(size_t point_index) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%04zu", point_index);
  return buf;
}

}  // namespace kvlab
