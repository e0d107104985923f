// SequenceTable<State>: a memory manager's books per held sequence, reached in O(1) through
// the Sequence's KvHandle instead of a hash of its id (the scheduler asks can_append and
// append_slot of every running sequence every step).
//
// States are dense: the held sequences' states are [0, size()), and the handle of each holds
// its index. Removing one moves the last state into its place (and rewrites that sequence's
// handle); entries past size() are spares whose members keep their capacity (a block table's
// vector), so steady-state admission does not allocate.
//
// A handle is followed only when the state at its index names this very Sequence (one load
// and compare), so a stale handle (released, or a copy's) or one another manager wrote reads
// as "not held here". What that check cannot see is the opposite mistake: a sequence this
// table holds whose handle was overwritten (another manager admitted it too). audit() catches
// it, and so does every miss in builds with assertions (no NDEBUG), by a scan of the states.
//
// State: any struct with a `const Sequence* seq` member, default-constructible and swappable.
// Thread safety: none (its manager's).
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "core/errors.h"
#include "core/request.h"

namespace kvlab {

template <typename State>
class SequenceTable {
 public:
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  State& operator[](size_t index) { return states_[index]; }
  const State& operator[](size_t index) const { return states_[index]; }
  State* begin() { return states_.data(); }
  State* end() { return states_.data() + size_; }
  const State* begin() const { return states_.data(); }
  const State* end() const { return states_.data() + size_; }

  // The state of `seq`, or null when this table does not hold it.
  State* find(const Sequence& seq) { return const_cast<State*>(std::as_const(*this).find(seq)); }
  const State* find(const Sequence& seq) const {
    const auto index = static_cast<size_t>(static_cast<uint32_t>(seq.kv_handle.index()));
    if (index < size_ && states_[index].seq == &seq) [[likely]] {
      return &states_[index];
    }
#ifndef NDEBUG
    check_not_held(seq);
#endif
    return nullptr;
  }

  // REQUIRES: find(seq) == nullptr. A state for `seq` (a spare: the caller resets the other
  // members), its handle pointing at it. The reference stays valid until the next add().
  State& add(const Sequence& seq) {
    check_invariant_lazy(size_ < static_cast<size_t>(std::numeric_limits<int32_t>::max()),
                         [] { return "sequence table: more than 2^31 - 1 sequences"; });
    if (size_ == states_.size()) states_.emplace_back();
    State& s = states_[size_];
    s.seq = &seq;
    seq.kv_handle.set(static_cast<int32_t>(size_));
    ++size_;
    return s;
  }

  // REQUIRES: `state` is one of this table's held states. Forgets it and clears its
  // sequence's handle; the last state moves into its place.
  void remove(State& state) {
    const size_t index = static_cast<size_t>(&state - states_.data());
    const size_t last = size_ - 1;
    state.seq->kv_handle.clear();
    if (index != last) {
      std::swap(states_[index], states_[last]);  // the spare keeps its members' capacity
      states_[index].seq->kv_handle.set(static_cast<int32_t>(index));
    }
    states_[last].seq = nullptr;
    --size_;
  }

  // Throws InvariantError (message prefixed by `who`) unless every held state names a
  // sequence whose handle points back at it.
  void audit(const char* who) const {
    for (size_t i = 0; i < size_; ++i) {
      const Sequence* seq = states_[i].seq;
      if (seq == nullptr)
        throw InvariantError(std::string(who) + ": held state without a sequence");
      if (static_cast<size_t>(seq->kv_handle.index()) != i) {
        throw InvariantError(std::string(who) + ": sequence " + std::to_string(seq->id) +
                             " is held at index " + std::to_string(i) + " but its handle says " +
                             std::to_string(seq->kv_handle.index()) +
                             " (is it held by two managers?)");
      }
    }
  }

 private:
  void check_not_held(const Sequence& seq) const {
    for (size_t i = 0; i < size_; ++i) {
      if (states_[i].seq == &seq) {
        throw InvariantError("sequence " + std::to_string(seq.id) + " is held at index " +
                             std::to_string(i) + " but its handle says " +
                             std::to_string(seq.kv_handle.index()) +
                             " (is it held by two managers?)");
      }
    }
  }

  std::vector<State> states_;
  size_t size_ = 0;
};

}  // namespace kvlab
