#include "policies/memory/contiguous.h"

#include <algorithm>
#include <bit>
#include <map>
#include <optional>
#include <span>
#include <vector>

#include "core/errors.h"
#include "policies/memory/region_allocator.h"
#include "policies/memory/sequence_table.h"

namespace kvlab {

const char* to_string(Reservation reservation) {
  switch (reservation) {
    case Reservation::kMax:
      return "max";
    case Reservation::kPow2:
      return "pow2";
    case Reservation::kOracle:
      return "oracle";
  }
  return "?";
}

Reservation parse_reservation(const std::string& name, const std::string& field) {
  for (Reservation r : {Reservation::kMax, Reservation::kPow2, Reservation::kOracle}) {
    if (name == to_string(r)) return r;
  }
  throw InputError("", 0, field, "unknown reservation '" + name + "' (valid: max, pow2, oracle)");
}

int64_t reservation_slots(Reservation rule, int32_t max_seq_len, const Sequence& seq) {
  check_invariant_lazy(seq.group != nullptr, [&] { return "reservation_slots: sequence has no group"; });
  int64_t slots = max_seq_len;
  if (rule != Reservation::kMax) {
    // The true final length: only these two idealized rules may read it (see contiguous.h).
    const int64_t final_len = std::max<int64_t>(seq.final_len(), 1);
    slots = rule == Reservation::kOracle
                ? final_len
                : std::min<int64_t>(
                      static_cast<int64_t>(std::bit_ceil(static_cast<uint64_t>(final_len))),
                      max_seq_len);
  }
  return std::max<int64_t>({slots, seq.num_tokens(), 1});
}

namespace {

class ContiguousKvCacheManager final : public KvCacheManager {
 public:
  ContiguousKvCacheManager(const MemoryConfig& config, Reservation rule, Placement placement)
      : rule_(rule),
        max_seq_len_(config.max_seq_len),
        device_(RegionAllocator::create(config.capacity_slots, placement)),
        host_(RegionAllocator::create(config.swap_capacity_slots, Placement::kFirstFit)) {}

  std::string name() const override {
    return std::string("contiguous(reservation=") + to_string(rule_) +
           ",placement=" + to_string(device_->placement()) + ")";
  }
  int64_t capacity_slots() const override { return device_->capacity(); }
  int64_t host_capacity_slots() const override { return host_->capacity(); }
  int64_t free_slots() const override { return device_->free_slots(); }

  AllocStatus can_admit(const SequenceGroup& group) const override {
    std::vector<int64_t> sizes;
    std::vector<int64_t> full_sizes;
    for (const Sequence& seq : group.seqs) {
      if (seq.is_finished()) continue;
      add_region(sizes, full_sizes, seq, seq.num_tokens(), 1);
    }
    add_region(sizes, full_sizes, group.seqs.front(), group.seqs.front().num_tokens(),
               num_future_samples(group));
    return placement_status(*device_, sizes, full_sizes);
  }

  void admit(const SequenceGroup& group) override {
    check_invariant_lazy(can_admit(group) == AllocStatus::kOk, [&] {
      return "admit: request " + std::to_string(group.id()) + " cannot be admitted now";
    });
    for (const Sequence& seq : group.seqs) {
      if (seq.is_finished()) continue;
      check_invariant_lazy(states_.find(seq) == nullptr, [&] {
        return "admit: sequence " + std::to_string(seq.id) + " already holds memory";
      });
      const Region region = allocate_device(region_request(seq, seq.num_tokens()));
      add_state(seq, region, seq.num_tokens());
    }
    reserve_future_samples(group,
                           region_request(group.seqs.front(), group.seqs.front().num_tokens()));
  }

  bool can_append(const SequenceGroup& group) const override {
    for (const Sequence& seq : group.seqs) {
      if (seq.is_finished()) continue;
      const SeqState* state = states_.find(seq);
      if (state == nullptr || state->where != Where::kDevice) continue;
      const int64_t need = slots_after_append(*state);
      if (need > state->device.size && !device_->can_grow(state->device.offset, need)) {
        return false;
      }
    }
    return true;
  }

  std::vector<KvCopy> append_slot(const Sequence& seq) override {
    SeqState& state = device_state(seq, "append_slot");
    const int64_t need = slots_after_append(state);
    // Inside the reservation there is nothing to do; past it the region grows in place
    // (grow() throws InvariantError when it cannot: the caller skipped can_append).
    if (need > state.device.size) state.device = device_->grow(state.device.offset, need);
    state.used = need;
    return {};
  }

  std::vector<KvCopy> fork(const Sequence& parent, const Sequence& child) override {
    const SeqState& parent_state = device_state(parent, "fork");
    check_invariant_lazy(states_.find(child) == nullptr,
            [&] { return "fork: sequence " + std::to_string(child.id) + " already holds memory"; });
    const int64_t used = parent_state.used;
    const int64_t parent_offset = parent_state.device.offset;  // add_state may move states
    const Region region = take_held_region(parent, child, used);
    add_state(child, region, used);
    // Contiguous regions cannot share: the child gets its own copy of the computed tokens.
    const int64_t computed = parent.num_computed;
    if (computed == 0) return {};
    return {KvCopy{parent_offset, region.offset, computed}};
  }

  void release(const Sequence& seq) override {
    if (SeqState* state = states_.find(seq)) {
      if (state->where == Where::kDevice) {
        device_->release(state->device.offset);
      } else if (state->host.size > 0) {
        host_->release(state->host.offset);
      }
      states_.remove(*state);
    }
    // A group whose last sequence lets go of its memory no longer needs the regions held
    // for its future samples (a not-yet-forked group preempted by recompute).
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
      SeqState* found = states_.find(seq);
      if (found == nullptr || found->where != Where::kDevice) continue;
      SeqState& state = *found;
      const int64_t computed = seq.num_computed;
      check_invariant_lazy(computed <= state.device.size, [&] {
        return "swap_out: sequence " + std::to_string(seq.id) +
               " computed more tokens than its region holds";
      });
      Region host{};
      if (computed > 0) {
        std::optional<Region> placed = host_->allocate(computed);
        check_invariant_lazy(placed.has_value(), [&] { return "swap_out: host pool placement failed"; });
        host = *placed;
        copies.push_back(KvCopy{state.device.offset, host.offset, computed});
      }
      device_->release(state.device.offset);
      state.where = Where::kHost;
      state.device = Region{};
      state.host = host;
    }
    release_held(group);  // re-reserved by swap_in
    return copies;
  }

  AllocStatus can_swap_in(const SequenceGroup& group) const override {
    std::vector<int64_t> sizes;
    std::vector<int64_t> full_sizes;
    for (const Sequence& seq : group.seqs) {
      if (seq.is_finished()) continue;
      const SeqState* state = states_.find(seq);
      if (state == nullptr || state->where != Where::kHost) continue;
      add_region(sizes, full_sizes, seq, state->used, 1);
    }
    const Sequence& first = group.seqs.front();
    add_region(sizes, full_sizes, first, used_or_tokens(first), num_future_samples(group));
    return placement_status(*device_, sizes, full_sizes);
  }

  std::vector<KvCopy> swap_in(const SequenceGroup& group) override {
    check_invariant_lazy(can_swap_in(group) == AllocStatus::kOk,
            [&] { return "swap_in: request " + std::to_string(group.id()) + " does not fit now"; });
    std::vector<KvCopy> copies;
    for (const Sequence& seq : group.seqs) {
      if (seq.is_finished()) continue;
      SeqState* found = states_.find(seq);
      if (found == nullptr || found->where != Where::kHost) continue;
      SeqState& state = *found;
      state.device = allocate_device(region_request(seq, state.used));
      if (state.host.size > 0) {
        copies.push_back(KvCopy{state.host.offset, state.device.offset, state.host.size});
        host_->release(state.host.offset);
      }
      state.host = Region{};
      state.where = Where::kDevice;
    }
    const Sequence& first = group.seqs.front();
    reserve_future_samples(group, region_request(first, used_or_tokens(first)));
    return copies;
  }

  KvLayout layout(const Sequence& seq) const override {
    const SeqState* state = states_.find(seq);
    check_invariant_lazy(state != nullptr && state->where == Where::kDevice, [&] {
      return "layout: sequence " + std::to_string(seq.id) + " holds no device memory";
    });
    KvLayout out;
    out.kind = KvLayout::Kind::kContiguous;
    out.base_slot = state->device.offset;
    out.reserved_slots = state->device.size;
    return out;
  }

  MemoryBreakdown breakdown(const SequenceGroup* head_of_line) const override {
    MemoryBreakdown b;
    b.capacity = device_->capacity();
    auto account = [&b](const Region& region, int64_t computed, int64_t final_len) {
      computed = std::clamp<int64_t>(computed, 0, region.size);
      const int64_t reserved = std::max<int64_t>(0, std::min(final_len, region.size) - computed);
      b.token_states += computed;
      b.reserved += reserved;
      b.internal_frag += region.size - computed - reserved;
    };
    for (const SeqState& state : states_) {
      if (state.where != Where::kDevice) continue;
      account(state.device, state.seq->num_computed, state.seq->final_len());
    }
    for (const auto& [id, held] : held_) {
      // A future sample will be the parent's copy: nothing computed in it yet.
      for (const Region& region : held.regions) {
        account(region, 0, held.group->seqs.front().final_len());
      }
    }
    const int64_t need = head_of_line == nullptr ? 0 : head_of_line_need(*head_of_line);
    device_->for_each_free_gap([&](const Region& gap) {
      if (gap.size < need) b.external_frag += gap.size;
    });
    b.free = device_->free_slots() - b.external_frag;
    return b;
  }

  void audit() const override {
    device_->audit();
    host_->audit();
    int64_t device_regions = 0;
    int64_t device_slots = 0;
    int64_t host_regions = 0;
    int64_t host_slots = 0;
    states_.audit("contiguous");
    for (const SeqState& state : states_) {
      auto who = [&] { return "contiguous: sequence " + std::to_string(state.seq->id); };
      if (state.where == Where::kDevice) {
        check_invariant_lazy(device_->region_at(state.device.offset) == state.device, [&] {
          return who() + ": its region is not the allocator's region at slot " +
                 std::to_string(state.device.offset);
        });
        check_invariant_lazy(state.used <= state.device.size, [&] {
          return who() + ": uses " + std::to_string(state.used) + " slots of a " +
                 std::to_string(state.device.size) + "-slot region";
        });
        check_invariant_lazy(state.seq->num_computed <= state.device.size,
                [&] { return who() + ": computed tokens past the end of its region"; });
        ++device_regions;
        device_slots += state.device.size;
      } else if (state.host.size > 0) {
        check_invariant_lazy(host_->region_at(state.host.offset) == state.host, [&] {
          return who() + ": its host region is not the host pool's region at slot " +
                 std::to_string(state.host.offset);
        });
        ++host_regions;
        host_slots += state.host.size;
      }
    }
    for (const auto& [request, held] : held_) {
      // Captured by copy: clang before 16 cannot capture a structured binding (the fuzz preset).
      auto who = [id = request] { return "contiguous: request " + std::to_string(id); };
      check_invariant_lazy(!held.regions.empty(), [&] { return who() + ": empty list of held regions"; });
      check_invariant_lazy(held.group != nullptr && held.group->id() == request,
              [&] { return who() + ": held regions filed under another request"; });
      check_invariant_lazy(static_cast<int64_t>(held.regions.size()) <= num_future_samples(*held.group),
              [&] { return who() + ": holds more regions than it has future samples"; });
      check_invariant_lazy(holds_device_sequence(*held.group), [&] {
        return who() + ": holds regions for future samples but no sequence is on the device";
      });
      for (const Region& region : held.regions) {
        check_invariant_lazy(device_->region_at(region.offset) == region, [&] {
          return who() + ": held region at slot " + std::to_string(region.offset) +
                 " is not the allocator's";
        });
        ++device_regions;
        device_slots += region.size;
      }
    }
    check_invariant_lazy(device_regions == device_->num_regions(), [&] {
      return "contiguous: " + std::to_string(device_->num_regions()) +
             " device regions allocated but " + std::to_string(device_regions) + " accounted for";
    });
    check_invariant_lazy(device_slots + device_->free_slots() == device_->capacity(),
            [&] { return "contiguous: device regions and free slots do not sum to capacity"; });
    check_invariant_lazy(host_regions == host_->num_regions() &&
                host_slots + host_->free_slots() == host_->capacity(),
            [&] { return "contiguous: host regions are not all accounted for"; });
    const MemoryBreakdown b = breakdown(nullptr);
    check_invariant_lazy(b.sum() == b.capacity && b.free >= 0,
            [&] { return "contiguous: breakdown does not sum to capacity"; });
  }

 private:
  enum class Where { kDevice, kHost };
  struct SeqState {
    const Sequence* seq = nullptr;
    Where where = Where::kDevice;
    Region device;     // where == kDevice
    Region host;       // where == kHost; empty when nothing had been computed
    int64_t used = 0;  // slots handed out: num_tokens() at admission, then one per append
  };
  // Regions a group that has not forked yet holds for its future samples.
  struct Held {
    const SequenceGroup* group = nullptr;
    std::vector<Region> regions;  // allocation order; fork takes the first
  };

  static int64_t num_future_samples(const SequenceGroup& group) {
    return std::max<int64_t>(0, group.spec.n - static_cast<int64_t>(group.seqs.size()));
  }

  // Slots of the region `seq` needs when it has been handed `used` slots.
  int64_t region_request(const Sequence& seq, int64_t used) const {
    return std::max(reservation_slots(rule_, max_seq_len_, seq), used);
  }

  // Appends `count` regions for `seq`: what is reserved now, and for the "never" question the
  // same at least at the true final length (could it ever run to completion in an empty arena).
  void add_region(std::vector<int64_t>& sizes, std::vector<int64_t>& full_sizes,
                  const Sequence& seq, int64_t used, int64_t count) const {
    const int64_t size = region_request(seq, used);
    const int64_t full = std::max<int64_t>(size, seq.final_len());
    for (int64_t i = 0; i < count; ++i) {
      sizes.push_back(size);
      full_sizes.push_back(full);
    }
  }

  static int64_t slots_after_append(const SeqState& state) {
    return std::max<int64_t>(state.used + 1, state.seq->num_tokens());
  }

  int64_t used_or_tokens(const Sequence& seq) const {
    const SeqState* state = states_.find(seq);
    return state == nullptr ? seq.num_tokens() : state->used;
  }

  // One region per unfinished sequence is the smallest the head-of-line group will ask for.
  int64_t head_of_line_need(const SequenceGroup& group) const {
    int64_t need = 0;
    for (const Sequence& seq : group.seqs) {
      if (seq.is_finished()) continue;
      const int64_t size = device_->rounded_size(region_request(seq, used_or_tokens(seq)));
      need = need == 0 ? size : std::min(need, size);
    }
    return need;
  }

  Region allocate_device(int64_t size) {
    std::optional<Region> region = device_->allocate(size);
    check_invariant_lazy(region.has_value(), [&] {
      return "contiguous: placement of " + std::to_string(size) +
             " slots failed after a successful dry run";
    });
    return *region;
  }

  void reserve_future_samples(const SequenceGroup& group, int64_t size) {
    const int64_t count = num_future_samples(group);
    if (count == 0) return;
    check_invariant_lazy(!held_.count(group.id()), [&] {
      return "contiguous: request " + std::to_string(group.id()) +
             " already holds regions for its samples";
    });
    Held& held = held_[group.id()];
    held.group = &group;
    for (int64_t i = 0; i < count; ++i) held.regions.push_back(allocate_device(size));
  }

  void release_held(const SequenceGroup& group) {
    auto it = held_.find(group.id());
    if (it == held_.end()) return;
    for (const Region& region : it->second.regions) device_->release(region.offset);
    held_.erase(it);
  }

  // The region a forked child gets: one held for it at admission, grown if the parent has
  // outgrown the reservation; failing that (a fork nobody reserved for), a fresh placement.
  Region take_held_region(const Sequence& parent, const Sequence& child, int64_t used) {
    auto it = held_.find(child.group->id());
    if (it != held_.end()) {
      Region region = it->second.regions.front();
      if (region.size < used && device_->can_grow(region.offset, used)) {
        region = device_->grow(region.offset, used);
      }
      if (region.size >= used) {
        it->second.regions.erase(it->second.regions.begin());
        if (it->second.regions.empty()) held_.erase(it);
        return region;
      }
    }
    std::optional<Region> region = device_->allocate(region_request(child, used));
    check_invariant_lazy(region.has_value(), [&] {
      return "fork: no region for sequence " + std::to_string(child.id) + " (forked from " +
             std::to_string(parent.id) + ")";
    });
    return *region;
  }

  SeqState& device_state(const Sequence& seq, const char* what) {
    SeqState* state = states_.find(seq);
    check_invariant_lazy(state != nullptr && state->where == Where::kDevice, [&] {
      return std::string(what) + ": sequence " + std::to_string(seq.id) + " holds no device memory";
    });
    return *state;
  }

  void add_state(const Sequence& seq, const Region& device, int64_t used) {
    SeqState& state = states_.add(seq);
    state.where = Where::kDevice;
    state.device = device;
    state.host = Region{};
    state.used = used;
  }

  bool holds_any_sequence(const SequenceGroup& group) const {
    for (const Sequence& seq : group.seqs) {
      if (states_.find(seq) != nullptr) return true;
    }
    return false;
  }

  bool holds_device_sequence(const SequenceGroup& group) const {
    for (const Sequence& seq : group.seqs) {
      const SeqState* state = states_.find(seq);
      if (state != nullptr && state->where == Where::kDevice) return true;
    }
    return false;
  }

  Reservation rule_;
  int32_t max_seq_len_;
  std::unique_ptr<RegionAllocator> device_;
  std::unique_ptr<RegionAllocator> host_;
  // The held sequences' states, found through their handles. Walks over them (breakdown,
  // audit) only sum, so their order does not show.
  SequenceTable<SeqState> states_;
  std::map<RequestId, Held> held_;
};

}  // namespace

std::unique_ptr<KvCacheManager> make_contiguous_kv_cache_manager(const MemoryConfig& config) {
  check_memory_sizes(config);
  const Reservation rule = parse_reservation(config.settings.get_choice("memory.reservation"));
  const Placement placement = parse_placement(config.settings.get_choice("memory.placement"));
  return std::make_unique<ContiguousKvCacheManager>(config, rule, placement);
}

void register_contiguous(MemoryPolicyRegistry& registry) {
  registry.add({
      .name = "contiguous",
      .factory = make_contiguous_kv_cache_manager,
      .description = "one contiguous region per sequence reserved at admission (Orca): "
                     "reservation max | pow2 | oracle, placement first-fit | best-fit | buddy",
      .keys = {choice_key("memory.reservation", "max", {"max", "pow2", "oracle"},
                          "contiguous: slots reserved at admission (Orca-Max, -Pow2, -Oracle)"),
               choice_key("memory.placement", "first-fit", {"first-fit", "best-fit", "buddy"},
                          "contiguous: where a region goes in the arena")},
      .traits = {.label =
                     [](const MemoryConfig& c) {
                       return "contiguous(" + c.settings.get_choice("memory.reservation") + ")";
                     },
                 // A region moves whole: one transfer per range.
                 .swap_unit_slots = [](const MemoryConfig&) -> int64_t { return 0; }},
  });
}

}  // namespace kvlab
