#include "policies/scheduling/scheduling_options.h"

#include <cstddef>

#include "core/errors.h"

namespace kvlab {

namespace {

[[noreturn]] void fail(const std::string& field, const std::string& what) {
  throw InputError("", 0, field, what);
}

// Index of `name` in `valid`, or an InputError for `field` listing the valid names.
size_t find_name(const std::vector<std::string>& valid, const std::string& name,
                 const std::string& field, const std::string& what) {
  std::string known;
  for (size_t i = 0; i < valid.size(); ++i) {
    if (valid[i] == name) return i;
    known += (i == 0 ? "" : ", ") + valid[i];
  }
  fail(field, "unknown " + what + " '" + name + "' (valid: " + known + ")");
}

}  // namespace

const std::vector<std::string>& preemption_setting_names() {
  // Order matches PreemptionSetting.
  static const std::vector<std::string> names = {"recompute", "swap", "auto"};
  return names;
}

const std::vector<std::string>& victim_rule_names() {
  // Order matches VictimRule.
  static const std::vector<std::string> names = {"lifo"};
  return names;
}

SchedulingOptions make_scheduling_options(const SchedulerConfig& config,
                                          const std::string& batching) {
  SchedulingOptions options;
  options.config = config;
  options.preemption = static_cast<PreemptionSetting>(find_name(
      preemption_setting_names(), config.preemption, "scheduler.preemption", "preemption mode"));
  options.victim = static_cast<VictimRule>(
      find_name(victim_rule_names(), config.victim, "scheduler.victim", "preemption victim rule"));

  if (config.max_num_seqs < 1) {
    fail("scheduler.max_num_seqs",
         "must be at least 1, got " + std::to_string(config.max_num_seqs));
  }
  if (config.max_batched_tokens < 1) {
    fail("scheduler.max_batched_tokens",
         "must be at least 1, got " + std::to_string(config.max_batched_tokens));
  }
  // Every running sequence decodes one token per step; a budget below the batch size would
  // starve the sequences at the back of the batch (vLLM enforces the same).
  if (config.max_batched_tokens < config.max_num_seqs) {
    fail("scheduler.max_batched_tokens",
         std::to_string(config.max_batched_tokens) + " is below scheduler.max_num_seqs " +
             std::to_string(config.max_num_seqs) + ": a full batch of decodes would not fit");
  }
  // A preempted sequence's recompute ends with a chunk of at least two tokens (its last
  // sampled token and the one before: see StepPlanner::chunk_tokens), so 1 could never
  // finish it.
  if (config.chunk_size < 0 || config.chunk_size == 1) {
    fail("scheduler.chunk_size",
         "must be 0 (off) or at least 2, got " + std::to_string(config.chunk_size));
  }
  if (config.max_seq_len < 1) {
    fail("model.max_seq_len", "must be at least 1, got " + std::to_string(config.max_seq_len));
  }
  if (batching == "static" && config.chunk_size > 0) {
    fail("scheduler.chunk_size",
         "static batching runs each batch's prompts whole; chunked prefill (chunk_size " +
             std::to_string(config.chunk_size) + ") needs batching = continuous");
  }
  return options;
}

}  // namespace kvlab
