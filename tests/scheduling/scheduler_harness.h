// Table-test harness for schedulers: drives the real Engine with a real memory manager and a
// trivial executor (every step takes 1 s, no token ids), and describes each step as a row
// of strings (who prefilled how many tokens, who decoded, who was preempted and how, what was
// rejected, the queues afterwards), so a test reads as a table of the expected state per
// iteration (TensorRT-LLM's capacity scheduler tests are written the same way).
//
// Labels: a sequence is its request id ("3"), or "3.1" for sample 1 of request 3. A prefill
// chunk is "3:START+TOKENS", with "*" when the chunk reaches the end and samples. A
// preemption is "3:recompute" or "3:swap". Lists are space-separated, in plan order;
// queues list request ids front to back.
//
// After every step the harness also checks the contracts every table relies on: each group
// is in at most one queue and its status (and its unfinished sequences') matches it, plan
// pointers refer to the Engine's sequences, the step keeps to max_batched_tokens,
// chunk_size and max_num_seqs, and the memory manager passes its audit.
#pragma once

#include <initializer_list>
#include <utility>

#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "core/engine.h"
#include "core/experiment.h"
#include "core/kv_cache_manager.h"
#include "core/scheduler.h"

namespace kvlab::testing {

struct StepView {
  std::string prefills = "";
  std::string decodes = "";
  std::string preempted = "";
  std::string rejected = "";
  std::string waiting = "";
  std::string running = "";
  std::string swapped = "";
  int64_t swap_out = 0;  // slots moved device -> host this step
  int64_t swap_in = 0;   // slots moved host -> device this step
  friend bool operator==(const StepView&, const StepView&) = default;
};
std::ostream& operator<<(std::ostream& os, const StepView& v);

// A paged manager that is a plain slot budget (block_size 1, no watermark) unless told
// otherwise.
MemoryConfig slot_budget(int64_t capacity_slots, int64_t swap_slots = 0, int32_t block_size = 1);

// `config` with a scheduler's own keys set in its settings ({"scheduler.chunk_size", "4"}).
SchedulerConfig with_settings(SchedulerConfig config,
                              std::initializer_list<std::pair<std::string, std::string>> settings);

class SchedulerHarness {
 public:
  SchedulerHarness(const SchedulerConfig& scheduler, const MemoryConfig& memory);
  ~SchedulerHarness();

  // Adds a request (in arrival order).
  void add(RequestId id, double arrival_s, int32_t prompt_len, int32_t output_len, int32_t n = 1);

  // Runs one step and describes it; checks the contracts (gtest failures, not exceptions).
  // Returns false (and an empty view) when every request was already done.
  bool step(StepView* view);

  const SequenceGroup& group(RequestId id) const;
  Engine& engine() { return *engine_; }
  const SchedulerConfig& scheduler_config() const { return config_.scheduler; }

 private:
  void check_contracts() const;

  ExperimentConfig config_;  // outlives engine_
  std::unique_ptr<Engine> engine_;
};

// Steps `harness` once per row, comparing each step with its row (failures name the step),
// then expects every request to be done.
void expect_steps(SchedulerHarness& harness, const std::vector<StepView>& table);

// "3" or "3.1".
std::string seq_label(const Sequence& seq);

}  // namespace kvlab::testing
