// StepBudget: the two limits one step is planned against. Sequences count every place in
// the batch (running groups included, whether or not they run this step, because they will
// decode together); tokens count what this step processes.
#pragma once

#include <cstdint>

namespace kvlab {

class StepBudget {
 public:
  StepBudget(int32_t max_seqs, int64_t max_tokens) : max_seqs_(max_seqs), max_tokens_(max_tokens) {}

  // Starts a step: nothing counted yet (the planner adds the running groups' places).
  void reset() {
    seqs_ = 0;
    tokens_ = 0;
  }

  bool fits_seqs(int32_t seqs) const { return seqs_ + seqs <= max_seqs_; }
  bool fits_tokens(int64_t tokens) const { return tokens_ + tokens <= max_tokens_; }
  int64_t tokens_left() const { return max_tokens_ - tokens_; }

  void add_seqs(int32_t seqs) { seqs_ += seqs; }
  void remove_seqs(int32_t seqs) { seqs_ -= seqs; }
  void add_tokens(int64_t tokens) { tokens_ += tokens; }

 private:
  int32_t max_seqs_;
  int64_t max_tokens_;
  int32_t seqs_ = 0;
  int64_t tokens_ = 0;
};

}  // namespace kvlab
