#include "policies/memory/virtual.h"

#include <algorithm>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <utility>
#include <vector>

#include "core/errors.h"
#include "policies/memory/region_allocator.h"
#include "policies/memory/sequence_table.h"

namespace kvlab {

namespace {

class VirtualManager final : public KvCacheManager {
 public:
  VirtualManager(const MemoryConfig& config, const VirtualOptions& o)
      : o_(o), host_(RegionAllocator::create(config.swap_capacity_slots, Placement::kFirstFit)) {
    free_.reserve(static_cast<size_t>(o.num_pages));
    // LIFO: a fresh pool hands out 0, 1, 2, ...
    for (int32_t p = o.num_pages - 1; p >= 0; --p) free_.push_back(p);
  }

  std::string name() const override {
    return "virtual(page_size=" + page_size_label(o_.page_bytes) +
           ",tokens_per_page=" + std::to_string(o_.tokens_per_page) +
           ",deferred_reclaim=" + (o_.deferred_reclaim ? "true" : "false") +
           ",eager_alloc=" + std::to_string(o_.eager_pages) + ")";
  }
  int64_t capacity_slots() const override { return slots(o_.num_pages); }
  int64_t host_capacity_slots() const override { return host_->capacity(); }
  int64_t free_slots() const override { return slots(available_pages()); }

  AllocStatus can_admit(const SequenceGroup& group) const override {
    needs_.clear();
    full_pages_ = 0;
    bool never = false;
    for (const Sequence& seq : group.seqs) {
      if (seq.is_finished()) continue;
      add_need(seq, seq.num_tokens(), 1, never);
    }
    const Sequence& first = group.seqs.front();
    add_need(first, first.num_tokens(), num_future_samples(group), never);
    return status_of(never);
  }

  void admit(const SequenceGroup& group) override {
    check_invariant_lazy(can_admit(group) == AllocStatus::kOk, [&] {
      return "admit: request " + std::to_string(group.id()) + " cannot be admitted now";
    });
    Picks picks{plan_, 0};
    for (const Sequence& seq : group.seqs) {
      if (seq.is_finished()) continue;
      check_invariant_lazy(states_.find(seq) == nullptr, [&] {
        return "admit: sequence " + std::to_string(seq.id) + " already holds memory";
      });
      const int32_t range = take_range(pages_for(seq.num_tokens()), next_pick(picks));
      map_to(range, pages_for(seq.num_tokens()));
      add_state(seq, range, seq.num_tokens());
    }
    hold_future_samples(group, group.seqs.front().num_tokens(), picks);
  }

  bool can_append(const SequenceGroup& group) const override {
    int64_t need = 0;
    for (const Sequence& seq : group.seqs) {
      if (seq.is_finished()) continue;
      const SeqState* state = states_.find(seq);
      if (state == nullptr || state->where != Where::kDevice) continue;
      const int64_t pages = pages_for(slots_after_append(*state));
      if (pages > o_.pages_per_range) return false;
      need += std::max<int64_t>(0, pages - mapped(state->range));
    }
    return need <= available_pages();
  }

  std::vector<KvCopy> append_slot(const Sequence& seq) override {
    SeqState& state = device_state(seq, "append_slot");
    const int64_t need = slots_after_append(state);
    const int64_t pages = pages_for(need);
    check_invariant_lazy(pages <= o_.pages_per_range, [&] {
      return "append_slot: sequence " + std::to_string(seq.id) + " outgrows its virtual range";
    });
    if (pages > mapped(state.range)) [[unlikely]] {
      map_to(state.range, pages);  // throws when a page is missing: the caller skipped can_append
      // Eager allocation: more pages now, from free memory only (never reclaimed for it), and
      // never the last free pages: one per held sequence stays, so the other sequences of
      // this group, which can_append counted on, still get theirs this step.
      const int64_t ahead = std::min<int64_t>(pages + o_.eager_pages, o_.pages_per_range);
      while (mapped(state.range) < ahead && free_.size() > states_.size()) {
        map_one(state.range, pop_free());
      }
    }
    state.used = need;
    return {};
  }

  std::vector<KvCopy> fork(const Sequence& parent, const Sequence& child) override {
    const SeqState& parent_state = device_state(parent, "fork");
    check_invariant_lazy(states_.find(child) == nullptr, [&] {
      return "fork: sequence " + std::to_string(child.id) + " already holds memory";
    });
    const int64_t used = parent_state.used;
    const int32_t parent_range = parent_state.range;  // add_state may move states
    int32_t range = -1;
    auto it = held_.find(child.group->id());
    if (it != held_.end()) {
      range = it->second.ranges.front();
      it->second.ranges.erase(it->second.ranges.begin());
      if (it->second.ranges.empty()) held_.erase(it);
    } else {
      check_invariant_lazy(!no_range_free(), [&] {
        return "fork: no virtual range for sequence " + std::to_string(child.id);
      });
      range = take_range(pages_for(used), pick_of(pick_idle(pages_for(used), {})));
    }
    map_to(range, pages_for(used));
    add_state(child, range, used);
    // Ranges cannot share pages here: the child gets a copy of the computed tokens, page by
    // page (each range's pages sit anywhere in the pool).
    std::vector<KvCopy> copies;
    const int64_t computed = parent.num_computed;
    const std::vector<int32_t>& from = ranges_[static_cast<size_t>(parent_range)].pages;
    const std::vector<int32_t>& to = ranges_[static_cast<size_t>(range)].pages;
    for (int64_t start = 0; start < computed; start += o_.tokens_per_page) {
      const auto page = static_cast<size_t>(start / o_.tokens_per_page);
      copies.push_back(KvCopy{slots(from[page]), slots(to[page]),
                              std::min<int64_t>(o_.tokens_per_page, computed - start)});
    }
    return copies;
  }

  void release(const Sequence& seq) override {
    if (SeqState* state = states_.find(seq)) {
      if (state->where == Where::kDevice) {
        give_back(state->range);
      } else if (state->host.size > 0) {
        host_->release(state->host.offset);
      }
      states_.remove(*state);
    }
    if (seq.group != nullptr && !holds_any_sequence(*seq.group)) release_held(*seq.group);
  }

  AllocStatus can_swap_out(const SequenceGroup& group) const override {
    std::vector<int64_t> sizes;
    for (const Sequence& seq : group.seqs) {
      if (seq.is_finished()) continue;
      const SeqState* state = states_.find(seq);
      if (state == nullptr || state->where != Where::kDevice) continue;
      if (seq.num_computed > 0) sizes.push_back(seq.num_computed);
    }
    return placement_status(*host_, sizes, sizes);
  }

  std::vector<KvCopy> swap_out(const SequenceGroup& group) override {
    check_invariant_lazy(can_swap_out(group) == AllocStatus::kOk, [&] {
      return "swap_out: request " + std::to_string(group.id()) +
             " does not fit in the host pool now";
    });
    std::vector<KvCopy> copies;
    for (const Sequence& seq : group.seqs) {
      if (seq.is_finished()) continue;
      SeqState* state = states_.find(seq);
      if (state == nullptr || state->where != Where::kDevice) continue;
      const int64_t computed = seq.num_computed;
      Region host{};
      if (computed > 0) {
        std::optional<Region> placed = host_->allocate(computed);
        check_invariant_lazy(placed.has_value(),
                             [&] { return "swap_out: host pool placement failed"; });
        host = *placed;
        const std::vector<int32_t>& pages = ranges_[static_cast<size_t>(state->range)].pages;
        for (int64_t start = 0; start < computed; start += o_.tokens_per_page) {
          copies.push_back(KvCopy{slots(pages[static_cast<size_t>(start / o_.tokens_per_page)]),
                                  host.offset + start,
                                  std::min<int64_t>(o_.tokens_per_page, computed - start)});
        }
      }
      give_back(state->range);
      state->range = -1;
      state->where = Where::kHost;
      state->host = host;
    }
    release_held(group);  // taken again by swap_in
    return copies;
  }

  AllocStatus can_swap_in(const SequenceGroup& group) const override {
    needs_.clear();
    full_pages_ = 0;
    bool never = false;
    for (const Sequence& seq : group.seqs) {
      if (seq.is_finished()) continue;
      const SeqState* state = states_.find(seq);
      if (state == nullptr || state->where != Where::kHost) continue;
      add_need(seq, state->used, 1, never);
    }
    const Sequence& first = group.seqs.front();
    add_need(first, used_or_tokens(first), num_future_samples(group), never);
    return status_of(never);
  }

  std::vector<KvCopy> swap_in(const SequenceGroup& group) override {
    check_invariant_lazy(can_swap_in(group) == AllocStatus::kOk, [&] {
      return "swap_in: request " + std::to_string(group.id()) + " does not fit now";
    });
    Picks picks{plan_, 0};
    std::vector<KvCopy> copies;
    for (const Sequence& seq : group.seqs) {
      if (seq.is_finished()) continue;
      SeqState* state = states_.find(seq);
      if (state == nullptr || state->where != Where::kHost) continue;
      const int32_t range = take_range(pages_for(state->used), next_pick(picks));
      map_to(range, pages_for(state->used));
      const std::vector<int32_t>& pages = ranges_[static_cast<size_t>(range)].pages;
      for (int64_t start = 0; start < state->host.size; start += o_.tokens_per_page) {
        copies.push_back(KvCopy{state->host.offset + start,
                                slots(pages[static_cast<size_t>(start / o_.tokens_per_page)]),
                                std::min<int64_t>(o_.tokens_per_page, state->host.size - start)});
      }
      if (state->host.size > 0) host_->release(state->host.offset);
      state->host = Region{};
      state->range = range;
      state->where = Where::kDevice;
    }
    const Sequence& first = group.seqs.front();
    hold_future_samples(group, used_or_tokens(first), picks);
    return copies;
  }

  KvLayout layout(const Sequence& seq) const override {
    const SeqState& state = device_state(seq, "layout");
    KvLayout out;
    out.kind = KvLayout::Kind::kPaged;
    out.block_size = o_.tokens_per_page;
    out.block_table = ranges_[static_cast<size_t>(state.range)].pages;
    return out;
  }

  int64_t virtual_range(const Sequence& seq) const override {
    return device_state(seq, "virtual_range").range;
  }

  std::span<const int32_t> virtual_range_pages(int64_t range) const override {
    if (range < 0 || range >= static_cast<int64_t>(ranges_.size())) return {};
    return ranges_[static_cast<size_t>(range)].pages;
  }

  VirtualLayout virtual_layout(const Sequence& seq) const {
    const SeqState& state = device_state(seq, "virtual_layout");
    VirtualLayout out;
    out.range = state.range;
    out.range_slots = range_slots();
    out.range_base_slot = out.range * out.range_slots;
    out.tokens_per_page = o_.tokens_per_page;
    out.pages = ranges_[static_cast<size_t>(state.range)].pages;
    return out;
  }

  MemoryBreakdown breakdown(const SequenceGroup* /*head_of_line*/) const override {
    MemoryBreakdown b;
    b.capacity = capacity_slots();
    auto account = [&](int32_t range, int64_t computed, int64_t final_len) {
      const int64_t held = slots(mapped(range));
      computed = std::clamp<int64_t>(computed, 0, held);
      const int64_t reserved = std::max<int64_t>(0, std::min(final_len, held) - computed);
      b.token_states += computed;
      b.reserved += reserved;
      b.internal_frag += held - computed - reserved;
    };
    for (const SeqState& state : states_) {
      if (state.where != Where::kDevice) continue;
      account(state.range, state.seq->num_computed, state.seq->final_len());
    }
    for (const auto& [id, held] : held_) {
      for (int32_t range : held.ranges) account(range, 0, held.group->seqs.front().final_len());
    }
    b.cached = slots(idle_mapped_);
    b.free = slots(static_cast<int64_t>(free_.size()));
    return b;
  }

  VirtualMemoryStats virtual_memory_stats() const override {
    VirtualMemoryStats s;
    s.enabled = true;
    s.page_bytes = o_.page_bytes;
    s.tokens_per_page = o_.tokens_per_page;
    s.ranges_total = o_.ranges_total;
    s.ranges_in_use = ranges_in_use_;
    s.range_slots = range_slots();
    s.pages_mapped = groups_mapped_ * 2 * o_.layers;
    s.pages_unmapped = groups_unmapped_ * 2 * o_.layers;
    s.ranges_created = static_cast<int64_t>(ranges_.size());
    return s;
  }

  void audit() const override {
    host_->audit();
    states_.audit("virtual");
    // Every page group sits in exactly one place: the free list or one range.
    std::vector<int32_t> owner(static_cast<size_t>(o_.num_pages), -2);
    for (int32_t p : free_) {
      check_invariant_lazy(p >= 0 && p < o_.num_pages && owner[static_cast<size_t>(p)] == -2,
                           [&] { return "virtual: page " + std::to_string(p) + " free twice"; });
      owner[static_cast<size_t>(p)] = -1;
    }
    int64_t idle_mapped = 0;
    int64_t busy = 0;
    for (size_t r = 0; r < ranges_.size(); ++r) {
      const Range& range = ranges_[r];
      check_invariant_lazy(static_cast<int64_t>(range.pages.size()) <= o_.pages_per_range, [&] {
        return "virtual: range " + std::to_string(r) + " maps more pages than it addresses";
      });
      for (int32_t p : range.pages) {
        check_invariant_lazy(p >= 0 && p < o_.num_pages && owner[static_cast<size_t>(p)] == -2,
                             [&] {
                               return "virtual: page " + std::to_string(p) +
                                      " is mapped twice, or mapped and free";
                             });
        owner[static_cast<size_t>(p)] = static_cast<int32_t>(r);
      }
      if (range.busy) {
        ++busy;
      } else {
        idle_mapped += static_cast<int64_t>(range.pages.size());
        check_invariant_lazy(idle_.count({static_cast<int64_t>(range.pages.size()),
                                          static_cast<int32_t>(r)}) == 1,
                             [&] { return "virtual: idle range " + std::to_string(r) + " lost"; });
        check_invariant_lazy(o_.deferred_reclaim || range.pages.empty(), [&] {
          return "virtual: idle range " + std::to_string(r) +
                 " keeps pages mapped without deferred reclamation";
        });
      }
    }
    for (int32_t p = 0; p < o_.num_pages; ++p) {
      check_invariant_lazy(owner[static_cast<size_t>(p)] != -2, [&] {
        return "virtual: page " + std::to_string(p) + " is neither free nor mapped (leaked)";
      });
    }
    check_invariant_lazy(idle_.size() == ranges_.size() - static_cast<size_t>(busy),
                         [&] { return "virtual: idle set out of step with the ranges"; });
    check_invariant_lazy(idle_mapped == idle_mapped_,
                         [&] { return "virtual: idle mapped page count out of step"; });
    check_invariant_lazy(busy == ranges_in_use_ && ranges_in_use_ <= o_.ranges_total,
                         [&] { return "virtual: ranges in use miscounted"; });
    // Every busy range is held by exactly one sequence or one group's future sample.
    std::vector<uint8_t> held_by(ranges_.size(), 0);
    int64_t host_regions = 0;
    int64_t host_slots = 0;
    for (const SeqState& state : states_) {
      auto who = [&] { return "virtual: sequence " + std::to_string(state.seq->id); };
      if (state.where == Where::kDevice) {
        check_invariant_lazy(state.range >= 0 && static_cast<size_t>(state.range) < ranges_.size() &&
                                 ranges_[static_cast<size_t>(state.range)].busy &&
                                 held_by[static_cast<size_t>(state.range)]++ == 0,
                             [&] { return who() + ": its range is not its own"; });
        check_invariant_lazy(state.used <= slots(mapped(state.range)) &&
                                 state.seq->num_computed <= state.used,
                             [&] { return who() + ": uses slots past its mapped pages"; });
      } else if (state.host.size > 0) {
        check_invariant_lazy(host_->region_at(state.host.offset) == state.host,
                             [&] { return who() + ": its host region is not the pool's"; });
        ++host_regions;
        host_slots += state.host.size;
      }
    }
    for (const auto& [id, held] : held_) {
      // Captured by copy: clang before 16 cannot capture a structured binding.
      check_invariant_lazy(!held.ranges.empty() && held.group != nullptr &&
                               held.group->id() == id &&
                               static_cast<int64_t>(held.ranges.size()) <=
                                   num_future_samples(*held.group),
                           [request = id] { return "virtual: request " + std::to_string(request) +
                                        " holds ranges it has no samples for"; });
      for (int32_t range : held.ranges) {
        check_invariant_lazy(ranges_[static_cast<size_t>(range)].busy &&
                                 held_by[static_cast<size_t>(range)]++ == 0,
                             [&] { return "virtual: held range " + std::to_string(range) +
                                          " is not the group's own"; });
      }
    }
    for (size_t r = 0; r < ranges_.size(); ++r) {
      check_invariant_lazy(!ranges_[r].busy || held_by[r] == 1, [&] {
        return "virtual: range " + std::to_string(r) + " is in use but nobody holds it";
      });
    }
    check_invariant_lazy(host_regions == host_->num_regions() &&
                             host_slots + host_->free_slots() == host_->capacity(),
                         [&] { return "virtual: host regions are not all accounted for"; });
    const MemoryBreakdown b = breakdown(nullptr);
    check_invariant_lazy(b.sum() == b.capacity,
                         [&] { return "virtual: breakdown does not sum to capacity"; });
  }

 private:
  enum class Where { kDevice, kHost };
  struct SeqState {
    const Sequence* seq = nullptr;
    Where where = Where::kDevice;
    int32_t range = -1;  // kDevice
    Region host;         // kHost; empty when nothing had been computed
    int64_t used = 0;    // slots handed out: num_tokens() at admission, then one per append
  };
  struct Range {
    std::vector<int32_t> pages;  // physical page groups mapped, in virtual order
    bool busy = false;
  };

  int64_t slots(int64_t pages) const { return pages * o_.tokens_per_page; }
  int64_t pages_for(int64_t tokens) const {
    return (tokens + o_.tokens_per_page - 1) / o_.tokens_per_page;
  }
  int64_t range_slots() const { return slots(o_.pages_per_range); }
  int64_t mapped(int32_t range) const {
    return static_cast<int64_t>(ranges_[static_cast<size_t>(range)].pages.size());
  }
  int64_t available_pages() const { return static_cast<int64_t>(free_.size()) + idle_mapped_; }
  bool no_range_free() const {
    return idle_.empty() && static_cast<int64_t>(ranges_.size()) >= o_.ranges_total;
  }
  static int64_t num_future_samples(const SequenceGroup& group) {
    return std::max<int64_t>(0, group.spec.n - static_cast<int64_t>(group.seqs.size()));
  }
  static int64_t slots_after_append(const SeqState& state) {
    return std::max<int64_t>(state.used + 1, state.seq->num_tokens());
  }
  int64_t used_or_tokens(const Sequence& seq) const {
    const SeqState* state = states_.find(seq);
    return state == nullptr ? seq.num_tokens() : state->used;
  }

  // Admission (and swap-in) planning: `count` ranges for `seq` with `used` slots now. Records
  // the pages each needs now (needs_) and at the true final length (full_pages_); `never`
  // when a range cannot address the final length.
  void add_need(const Sequence& seq, int64_t used, int64_t count, bool& never) const {
    const int64_t final_tokens = std::max<int64_t>(used, seq.final_len());
    if (pages_for(final_tokens) > o_.pages_per_range) never = true;
    for (int64_t i = 0; i < count; ++i) {
      needs_.push_back(pages_for(used));
      full_pages_ += pages_for(final_tokens);
    }
  }

  using IdleSet = std::set<std::pair<int64_t, int32_t>>;  // (pages mapped, range index)

  // The idle range a sequence needing `need` pages is given (`taken`: ranges already given in
  // the same admission): the one with the fewest pages mapped that covers the need (best fit:
  // the fewest pages its new holder cannot use yet), else the one with the most (the fewest
  // to map). end() when none is idle: a fresh range is taken.
  IdleSet::const_iterator pick_idle(int64_t need, std::span<const int32_t> taken) const {
    auto free_to_take = [&](IdleSet::const_iterator it) {
      return std::find(taken.begin(), taken.end(), it->second) == taken.end();
    };
    const auto covering = idle_.lower_bound({need, std::numeric_limits<int32_t>::min()});
    for (auto it = covering; it != idle_.end(); ++it) {
      if (free_to_take(it)) return it;
    }
    for (auto it = covering; it != idle_.begin();) {
      --it;
      if (free_to_take(it)) return it;
    }
    return idle_.end();
  }

  // Admission takes, in order, the range pick_idle() gives each sequence; each keeps what it
  // has mapped and maps what it lacks, from free pages and pages reclaimed from idle ranges.
  AllocStatus status_of(bool never) const {
    const auto wanted = static_cast<int64_t>(needs_.size());
    if (never || wanted > o_.ranges_total || full_pages_ > o_.num_pages) return AllocStatus::kNever;
    const int64_t fresh = o_.ranges_total - static_cast<int64_t>(ranges_.size());
    if (wanted > static_cast<int64_t>(idle_.size()) + fresh) return AllocStatus::kLater;
    int64_t pages = 0;
    plan_.clear();
    for (int64_t need : needs_) {
      const auto it = pick_idle(need, plan_);
      int64_t has = 0;
      if (it != idle_.end()) has = std::min(it->first, need + o_.eager_pages);  // trimmed
      plan_.push_back(pick_of(it));
      pages += std::max(need, has);
    }
    return pages <= available_pages() ? AllocStatus::kOk : AllocStatus::kLater;
  }

  int32_t pick_of(IdleSet::const_iterator it) const { return it == idle_.end() ? -1 : it->second; }
  // The admission plan's picks (status_of), taken in the order it planned them. Execution must
  // follow the plan: pages reclaimed by one sequence's mapping change the idle ranges' counts,
  // and picking again could give a later sequence a range that keeps more than planned.
  struct Picks {
    std::vector<int32_t> ranges;
    size_t next = 0;
  };
  static int32_t next_pick(Picks& picks) {
    check_invariant_lazy(picks.next < picks.ranges.size(),
                         [] { return "virtual: admission took more ranges than it planned"; });
    return picks.ranges[picks.next++];
  }

  // A range for a sequence that needs `need` pages: idle range `pick`, or a fresh one (-1).
  // An idle range keeps at most need + eager_alloc of its pages; the rest are unmapped (a
  // request does not hold pages it was not going to map).
  int32_t take_range(int64_t need, int32_t pick) {
    int32_t r = 0;
    const auto it = pick < 0 ? idle_.end()
                             : idle_.find({static_cast<int64_t>(
                                               ranges_[static_cast<size_t>(pick)].pages.size()),
                                           pick});
    check_invariant_lazy(pick < 0 || it != idle_.end(),
                         [&] { return "virtual: planned range " + std::to_string(pick) + " is not idle"; });
    if (it != idle_.end()) {
      r = it->second;
      idle_mapped_ -= it->first;  // its pages are its new holder's
      idle_.erase(it);
      std::vector<int32_t>& pages = ranges_[static_cast<size_t>(r)].pages;
      while (static_cast<int64_t>(pages.size()) > need + o_.eager_pages) {
        free_.push_back(pages.back());
        pages.pop_back();
        ++groups_unmapped_;
      }
    } else {
      check_invariant_lazy(static_cast<int64_t>(ranges_.size()) < o_.ranges_total,
                           [] { return "virtual: no virtual range left"; });
      r = static_cast<int32_t>(ranges_.size());
      ranges_.emplace_back();
    }
    ranges_[static_cast<size_t>(r)].busy = true;
    ++ranges_in_use_;
    return r;
  }

  // Unmaps a busy range's pages (or, deferring, keeps them) and makes it idle.
  void give_back(int32_t r) {
    Range& range = ranges_[static_cast<size_t>(r)];
    if (!o_.deferred_reclaim) {
      groups_unmapped_ += static_cast<int64_t>(range.pages.size());
      for (auto it = range.pages.rbegin(); it != range.pages.rend(); ++it) free_.push_back(*it);
      range.pages.clear();
    }
    range.busy = false;
    --ranges_in_use_;
    idle_mapped_ += static_cast<int64_t>(range.pages.size());
    idle_.insert({static_cast<int64_t>(range.pages.size()), r});
  }

  int32_t pop_free() {
    const int32_t p = free_.back();
    free_.pop_back();
    return p;
  }

  void map_one(int32_t r, int32_t page) {
    ranges_[static_cast<size_t>(r)].pages.push_back(page);
    ++groups_mapped_;
  }

  // Maps pages into busy range `r` until it has `pages`: free ones, else unmapped from the
  // idle range with the most.
  void map_to(int32_t r, int64_t pages) {
    while (mapped(r) < pages) {
      if (!free_.empty()) {
        map_one(r, pop_free());
        continue;
      }
      check_invariant_lazy(idle_mapped_ > 0, [&] {
        return "virtual: no physical page left for range " + std::to_string(r);
      });
      auto it = std::prev(idle_.end());  // the idle range with the most pages
      const int32_t victim = it->second;
      idle_.erase(it);
      Range& v = ranges_[static_cast<size_t>(victim)];
      const int32_t page = v.pages.back();
      v.pages.pop_back();
      ++groups_unmapped_;
      --idle_mapped_;
      idle_.insert({static_cast<int64_t>(v.pages.size()), victim});
      map_one(r, page);
    }
  }

  void hold_future_samples(const SequenceGroup& group, int64_t tokens, Picks& picks) {
    const int64_t count = num_future_samples(group);
    if (count == 0) return;
    check_invariant_lazy(!held_.count(group.id()), [&] {
      return "virtual: request " + std::to_string(group.id()) +
             " already holds ranges for its samples";
    });
    Held& held = held_[group.id()];
    held.group = &group;
    for (int64_t i = 0; i < count; ++i) {
      const int32_t range = take_range(pages_for(tokens), next_pick(picks));
      map_to(range, pages_for(tokens));
      held.ranges.push_back(range);
    }
  }

  void release_held(const SequenceGroup& group) {
    auto it = held_.find(group.id());
    if (it == held_.end()) return;
    for (int32_t range : it->second.ranges) give_back(range);
    held_.erase(it);
  }

  const SeqState& device_state(const Sequence& seq, const char* what) const {
    const SeqState* state = states_.find(seq);
    check_invariant_lazy(state != nullptr && state->where == Where::kDevice, [&] {
      return std::string(what) + ": sequence " + std::to_string(seq.id) +
             " holds no device memory";
    });
    return *state;
  }
  SeqState& device_state(const Sequence& seq, const char* what) {
    return const_cast<SeqState&>(std::as_const(*this).device_state(seq, what));
  }

  void add_state(const Sequence& seq, int32_t range, int64_t used) {
    SeqState& state = states_.add(seq);
    state.where = Where::kDevice;
    state.range = range;
    state.host = Region{};
    state.used = used;
  }

  bool holds_any_sequence(const SequenceGroup& group) const {
    for (const Sequence& seq : group.seqs) {
      if (states_.find(seq) != nullptr) return true;
    }
    return false;
  }

  VirtualOptions o_;
  std::unique_ptr<RegionAllocator> host_;
  std::vector<int32_t> free_;  // unmapped page groups, LIFO
  std::vector<Range> ranges_;  // ranges ever used (fresh ones are created on demand)
  IdleSet idle_;  // idle ranges by (pages mapped, index)
  int64_t idle_mapped_ = 0;    // pages mapped in idle ranges (deferred reclamation)
  int64_t ranges_in_use_ = 0;
  int64_t groups_mapped_ = 0;
  int64_t groups_unmapped_ = 0;
  SequenceTable<SeqState> states_;
  // Ranges a group that has not forked yet holds for its future samples (fork takes the first).
  struct Held {
    const SequenceGroup* group = nullptr;
    std::vector<int32_t> ranges;
  };
  std::map<RequestId, Held> held_;
  mutable std::vector<int64_t> needs_;  // admission planning scratch
  mutable std::vector<int32_t> plan_;  // the last status_of's picks (-1: a fresh range)
  mutable int64_t full_pages_ = 0;
};

}  // namespace

std::unique_ptr<KvCacheManager> make_virtual_manager(const MemoryConfig& config,
                                                     const VirtualOptions& options) {
  return std::make_unique<VirtualManager>(config, options);
}

VirtualLayout virtual_layout(const KvCacheManager& kv, const Sequence& seq) {
  const auto* manager = dynamic_cast<const VirtualManager*>(&kv);
  check_invariant_lazy(manager != nullptr,
                       [&] { return "virtual_layout: " + kv.name() + " is not a virtual manager"; });
  return manager->virtual_layout(seq);
}

}  // namespace kvlab
