#include "policies/scheduling/scheduling_options.h"

#include "core/errors.h"

namespace kvlab {

std::vector<KeySpec> scheduling_keys() {
  return {
      int_key("scheduler.max_num_seqs", 256, 1, kInt32Max, "sequences in one batch"),
      int_key("scheduler.max_batched_tokens", 0, 1, kUnbounded,
              "tokens per step (0: max(max_seq_len, 2048))", {0}),
      // A preempted sequence's recompute ends with a chunk of at least two tokens (its last
      // sampled token and the one before: see StepPlanner::chunk_tokens), so 1 could never
      // finish it.
      int_key("scheduler.chunk_size", 0, 2, kInt32Max, "chunked prefill chunk (0: prefill-first)",
              {0}),
      choice_key(
          "scheduler.preemption", "recompute", [] { return preemption_rules().names(); },
          "preemption mode", "how a victim is preempted (kvlab list schedulers)"),
      choice_key(
          "scheduler.victim", "lifo", [] { return victim_rules().names(); },
          "preemption victim rule", "which running group is preempted"),
  };
}

SchedulingOptions make_scheduling_options(const SchedulerConfig& config) {
  const Config& settings = config.settings;
  SchedulingOptions options;
  options.config = config;
  options.chunk_size = static_cast<int32_t>(settings.get_int("scheduler.chunk_size"));
  const std::string preemption = settings.get_choice("scheduler.preemption");
  const std::string victim = settings.get_choice("scheduler.victim");
  options.preemption = preemption_rules().create(preemption, config);
  options.victim = victim_rules().create(victim, config);

  if (config.max_num_seqs < 1) {
    settings.fail("scheduler.max_num_seqs",
                  "must be at least 1, got " + std::to_string(config.max_num_seqs));
  }
  if (config.max_batched_tokens < 1) {
    settings.fail("scheduler.max_batched_tokens",
                  "must be at least 1, got " + std::to_string(config.max_batched_tokens));
  }
  // Every running sequence decodes one token per step; a budget below the batch size would
  // starve the sequences at the back of the batch (vLLM enforces the same).
  if (config.max_batched_tokens < config.max_num_seqs) {
    settings.fail("scheduler.max_batched_tokens", std::to_string(config.max_batched_tokens) +
                                                      " is below scheduler.max_num_seqs " +
                                                      std::to_string(config.max_num_seqs) +
                                                      ": a full batch of decodes would not fit");
  }
  if (config.max_seq_len < 1) {
    settings.fail("model.max_seq_len",
                  "must be at least 1, got " + std::to_string(config.max_seq_len));
  }
  return options;
}

}  // namespace kvlab
