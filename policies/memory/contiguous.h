// The contiguous (Orca-style) KV-cache manager, registered in memory_policies() as
// "contiguous": each sequence gets one contiguous region of the device arena, reserved whole
// at admission, so that token i of the sequence sits in slot base_slot + i (the layout the
// contiguous attention kernels read). Nothing is shared: a fork copies the parent's computed
// tokens into the child's own region.
//
// Configuration (MemoryConfig; memory.reservation and memory.placement from its settings):
//  - reservation: how many slots a sequence reserves at admission (see Reservation below);
//  - placement: where in the arena the region goes, over a real address range (RegionAllocator:
//    first-fit | best-fit | buddy); the gaps left between regions are the external
//    fragmentation the breakdown reports;
//  - capacity_slots (> 0), swap_capacity_slots (>= 0, a first-fit host pool), max_seq_len (> 0).
// Bad values throw InputError naming the `memory.<key>` field and, for names, the valid values.
//
// Behaviour, by KvCacheManager operation:
//  - admit: a group that has not forked yet reserves spec.n regions at once, its first
//    sequence's and n - 1 held for its future samples (so that fork never fails); a group that
//    already forked (re-admitted after a recompute preemption) reserves one region per
//    unfinished sequence. A region reserves max(reservation rule, num_tokens()) slots.
//  - can_admit: kNever when the regions, each at least the sequence's true final length, could
//    not all be placed in an empty arena (a reservation larger than the capacity, or for buddy
//    than the largest buddy tree, or n regions that never fit together); kLater when they
//    cannot be placed now; kOk otherwise.
//  - append_slot: inside the region, nothing to do; at its end the region grows in place when
//    the range after it is free (for buddy: when its buddy is free), else can_append is false
//    and the scheduler preempts.
//  - fork(parent, child): the child takes one of the held regions and receives a copy of the
//    parent's computed tokens (a KvCopy of parent.num_computed slots).
//  - swap_out: each unfinished sequence's computed tokens move to a host region, its device
//    region (and a not-yet-forked group's held regions) are freed; swap_in reserves again
//    (held regions included) and copies the tokens back.
//  - layout: kind contiguous, base_slot, reserved_slots = the slots the region holds.
//  - breakdown: for each region, token_states = computed tokens, reserved = the rest up to the
//    true final length, internal_frag = the rest of the region (buddy rounding included);
//    external_frag = free gaps smaller than one region of the head-of-line group under this
//    policy; free = the rest. O(regions + gaps).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/kv_cache_manager.h"
#include "core/request.h"

namespace kvlab {

// Orca's reservation rules. The true final length (Sequence::final_len(): prompt + output) is
// known to the measurement and, among policies, only to the `pow2` and `oracle` rules, which
// exist as the Orca paper's idealized baselines; `max` needs nothing but the context window.
enum class Reservation {
  kMax,     // max_seq_len (Orca-Max)
  kPow2,    // next power of two of the final length, capped at max_seq_len (Orca-Pow2)
  kOracle,  // exactly the final length (Orca-Oracle)
};

// "max" | "pow2" | "oracle".
const char* to_string(Reservation reservation);
// Throws InputError naming `field` and listing the valid values for an unknown name.
Reservation parse_reservation(const std::string& name,
                              const std::string& field = "memory.reservation");
// Slots `rule` reserves for `seq` (before placement rounding), never less than num_tokens().
// REQUIRES: seq.group is set (final_len() reads the request).
int64_t reservation_slots(Reservation rule, int32_t max_seq_len, const Sequence& seq);

// Validates `config` (InputError) and builds the manager.
std::unique_ptr<KvCacheManager> make_contiguous_kv_cache_manager(const MemoryConfig& config);

// Registers "contiguous" (its keys memory.reservation and memory.placement, its traits).
void register_contiguous(MemoryPolicyRegistry& registry);

}  // namespace kvlab
