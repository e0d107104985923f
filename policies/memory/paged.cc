#include "policies/memory/paged.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>

#include "core/block_hash.h"
#include "core/errors.h"

namespace kvlab {

namespace {

constexpr int32_t kMaxBlockSize = 256;

std::string seq_name(const Sequence& seq) { return "sequence " + std::to_string(seq.id); }

// Appends a copy, merging it into the previous one when both ranges continue it.
void append_copy(std::vector<KvCopy>& copies, int64_t src, int64_t dst, int64_t num_slots) {
  if (!copies.empty()) {
    KvCopy& last = copies.back();
    if (last.src_slot + last.num_slots == src && last.dst_slot + last.num_slots == dst) {
      last.num_slots += num_slots;
      return;
    }
  }
  copies.push_back(KvCopy{src, dst, num_slots});
}

}  // namespace

// ---- BlockPool ----------------------------------------------------------------------------

PagedKvCacheManager::BlockPool::BlockPool(int32_t num_blocks)
    : ref_(static_cast<size_t>(num_blocks), 0) {
  free_.reserve(static_cast<size_t>(num_blocks));
  for (int32_t b = num_blocks - 1; b >= 0; --b) free_.push_back(b);
}

int32_t PagedKvCacheManager::BlockPool::allocate() {
  if (free_.empty()) throw InvariantError("paged: allocation from an empty block pool");
  const int32_t block = free_.back();
  free_.pop_back();
  ref_[static_cast<size_t>(block)] = 1;
  return block;
}

int32_t PagedKvCacheManager::BlockPool::drop_ref(int32_t block, bool keep) {
  int32_t& r = ref_[static_cast<size_t>(block)];
  if (r <= 0) {
    throw InvariantError("paged: reference dropped on free block " + std::to_string(block));
  }
  if (--r == 0 && !keep) free_.push_back(block);
  return r;
}

// ---- SlotClasses --------------------------------------------------------------------------

PagedKvCacheManager::SlotClasses& PagedKvCacheManager::SlotClasses::operator+=(
    const SlotClasses& o) {
  computed += o.computed;
  reserved += o.reserved;
  internal_frag += o.internal_frag;
  return *this;
}

PagedKvCacheManager::SlotClasses& PagedKvCacheManager::SlotClasses::operator-=(
    const SlotClasses& o) {
  computed -= o.computed;
  reserved -= o.reserved;
  internal_frag -= o.internal_frag;
  return *this;
}

// ---- construction -------------------------------------------------------------------------

namespace {

// The keys this policy reads, declared once (register_paged): the settings' getters check
// them against these declarations.
int32_t block_size_of(const MemoryConfig& c) {
  return static_cast<int32_t>(c.settings.get_int("memory.block_size"));
}

int32_t checked_num_blocks(int64_t slots, int32_t block_size, const char* field, bool allow_zero) {
  if (slots < 0 || (!allow_zero && slots < block_size)) {
    throw InputError("", 0, field,
                     "must hold at least " + std::string(allow_zero ? "0 slots" : "one block") +
                         " (block_size " + std::to_string(block_size) + "), got " +
                         std::to_string(slots));
  }
  const int64_t blocks = slots / block_size;
  if (blocks > std::numeric_limits<int32_t>::max()) {
    throw InputError("", 0, field,
                     std::to_string(slots) + " slots is more than 2^31 - 1 blocks of " +
                         std::to_string(block_size));
  }
  return static_cast<int32_t>(blocks);
}

int32_t watermark_blocks_of(const MemoryConfig& c, int32_t num_blocks) {
  return static_cast<int32_t>(std::floor(c.settings.get_double("memory.watermark") * num_blocks));
}

}  // namespace

PagedKvCacheManager::PagedKvCacheManager(const MemoryConfig& config)
    : block_size_(block_size_of(config)),
      device_(checked_num_blocks(config.capacity_slots, block_size_, "memory.capacity_slots",
                                 /*allow_zero=*/false)),
      host_(checked_num_blocks(config.swap_capacity_slots, block_size_,
                               "memory.swap_capacity_slots", /*allow_zero=*/true)),
      watermark_blocks_(watermark_blocks_of(config, device_.num_blocks())),
      device_mark_(static_cast<size_t>(device_.num_blocks()), 0),
      host_mark_(static_cast<size_t>(host_.num_blocks()), 0),
      device_remap_(static_cast<size_t>(device_.num_blocks()), -1),
      host_remap_(static_cast<size_t>(host_.num_blocks()), -1) {
  if (config.settings.get_bool("memory.prefix_caching")) {
    eviction_ = eviction_policies().create(config.settings.get_choice("memory.eviction"),
                                           EvictionConfig{device_.num_blocks()});
    block_hash_.assign(static_cast<size_t>(device_.num_blocks()), 0);
    cached_.assign(static_cast<size_t>(device_.num_blocks()), 0);
    cache_.reserve(static_cast<size_t>(device_.num_blocks()));
  }
}

std::string PagedKvCacheManager::name() const {
  return "paged(block_size=" + std::to_string(block_size_) +
         (eviction_ ? ", prefix_caching=" + eviction_->name() : std::string()) + ")";
}

int64_t PagedKvCacheManager::capacity_slots() const {
  return static_cast<int64_t>(device_.num_blocks()) * block_size_;
}

int64_t PagedKvCacheManager::host_capacity_slots() const {
  return static_cast<int64_t>(host_.num_blocks()) * block_size_;
}

int64_t PagedKvCacheManager::free_slots() const {
  return static_cast<int64_t>(available_blocks()) * block_size_;
}

bool PagedKvCacheManager::is_cached(int32_t device_block) const {
  if (device_block < 0 || device_block >= device_.num_blocks()) {
    throw InvariantError("paged: is_cached of block " + std::to_string(device_block) +
                         ", out of range");
  }
  return eviction_ && cached_[static_cast<size_t>(device_block)] != 0;
}

int32_t PagedKvCacheManager::ref_count(int32_t device_block) const {
  if (device_block < 0 || device_block >= device_.num_blocks()) {
    throw InvariantError("paged: ref_count of block " + std::to_string(device_block) +
                         ", out of range");
  }
  return device_.ref(device_block);
}

std::vector<int32_t> PagedKvCacheManager::block_table(const Sequence& seq) const {
  const SeqState* s = states_.find(seq);
  return s ? s->blocks : std::vector<int32_t>{};
}

bool PagedKvCacheManager::is_swapped(const Sequence& seq) const {
  const SeqState* s = states_.find(seq);
  return s && s->on_host;
}

// ---- sequence states ----------------------------------------------------------------------

PagedKvCacheManager::SeqState& PagedKvCacheManager::add_state(const Sequence& seq) {
  if (states_.find(seq) != nullptr) {
    throw InvariantError("paged: " + seq_name(seq) + " already holds memory");
  }
  SeqState& s = states_.add(seq);
  s.blocks.clear();
  s.len = 0;
  s.on_host = false;
  s.hashes.clear();
  s.cached_tokens = 0;
  return s;
}

uint32_t PagedKvCacheManager::next_epoch() const {
  if (++epoch_ == 0) {
    std::fill(device_mark_.begin(), device_mark_.end(), 0);
    std::fill(host_mark_.begin(), host_mark_.end(), 0);
    epoch_ = 1;
  }
  return epoch_;
}

// ---- shared-block accounting --------------------------------------------------------------

int32_t PagedKvCacheManager::fill_of(const SeqState& s, size_t index) const {
  const int64_t start = static_cast<int64_t>(index) * block_size_;
  return static_cast<int32_t>(std::min<int64_t>(block_size_, s.len - start));
}

// A shared block at table position `index` holding `fill` tokens: its filled slots hold
// computed tokens (the invariant in the header), the rest are reserved below the final length
// and internal fragmentation past it. The same for every sequence sharing it.
PagedKvCacheManager::SlotClasses PagedKvCacheManager::shared_copy_classes(size_t index,
                                                                          int32_t fill,
                                                                          int32_t final_len) const {
  const int64_t unfilled_begin = static_cast<int64_t>(index) * block_size_ + fill;
  const int64_t unfilled = block_size_ - fill;
  SlotClasses c;
  c.computed = fill;
  c.reserved = std::clamp<int64_t>(final_len - unfilled_begin, 0, unfilled);
  c.internal_frag = unfilled - c.reserved;
  return c;
}

void PagedKvCacheManager::add_device_ref(int32_t block, size_t index, int32_t fill,
                                         int32_t final_len) {
  if (device_.ref(block) >= 1) shared_dup_ += shared_copy_classes(index, fill, final_len);
  device_.add_ref(block);
}

void PagedKvCacheManager::drop_device_ref(int32_t block, size_t index, int32_t fill,
                                          int32_t final_len) {
  const bool cached = eviction_ && cached_[static_cast<size_t>(block)] != 0;
  const int32_t left = device_.drop_ref(block, /*keep=*/cached);
  if (left >= 1) {
    shared_dup_ -= shared_copy_classes(index, fill, final_len);
  } else if (cached) {
    eviction_->on_free(block);
  }
}

// ---- prefix cache -------------------------------------------------------------------------

int32_t PagedKvCacheManager::lookup_prefix(const Sequence& seq, std::vector<uint64_t>& hashes,
                                           std::vector<int32_t>* blocks) const {
  hashes.clear();
  if (blocks) blocks->clear();
  if (!eviction_ || cache_.empty()) return 0;
  const int32_t most = max_cached_blocks(seq.num_tokens(), seq.num_generated, block_size_);
  const std::vector<uint64_t>& ids = sequence_block_hashes(seq, most, block_size_);
  for (int32_t j = 0; j < most; ++j) {
    const uint64_t h = ids[static_cast<size_t>(j)];
    const int32_t* found = cache_.find(h);
    if (found == nullptr) break;
    hashes.push_back(h);
    if (blocks) blocks->push_back(*found);
  }
  return static_cast<int32_t>(hashes.size());
}

int32_t PagedKvCacheManager::allocate_device() {
  if (device_.num_free() > 0 || !eviction_ || eviction_->num_evictable() == 0) {
    return device_.allocate();
  }
  const int32_t victim = eviction_->evict();
  const size_t v = static_cast<size_t>(victim);
  if (victim < 0 || victim >= device_.num_blocks() || cached_[v] == 0 || device_.ref(victim) != 0) {
    throw InvariantError("paged: eviction policy gave up block " + std::to_string(victim) +
                         ", which is not evictable");
  }
  cache_.erase(block_hash_[v]);
  cached_[v] = 0;
  ++evicted_blocks_;
  device_.take(victim);
  return victim;
}

void PagedKvCacheManager::make_findable(const SeqState& s, size_t index, uint64_t hash) {
  const int32_t block = s.blocks[index];
  const size_t b = static_cast<size_t>(block);
  if (cached_[b] != 0) return;  // found cached at admission, or made findable by a sharer
  if (!cache_.insert(hash, block)) return;  // another block holds this identity
  cached_[b] = 1;
  block_hash_[b] = hash;
  int32_t parent = -1;
  if (index > 0) {
    const int32_t p = s.blocks[index - 1];
    if (cached_[static_cast<size_t>(p)] != 0) parent = p;
  }
  eviction_->on_cache(block, parent);
}

int32_t PagedKvCacheManager::cached_prefix(const Sequence& seq) const {
  const SeqState* s = states_.find(seq);
  return s ? s->cached_tokens : 0;
}

int32_t PagedKvCacheManager::probe_cached_prefix(const Sequence& seq) const {
  return lookup_prefix(seq, probe_hashes_, nullptr) * block_size_;
}

void PagedKvCacheManager::on_computed(const Sequence& seq) {
  if (!eviction_) return;
  SeqState* s = states_.find(seq);
  if (s == nullptr || s->on_host) return;
  const size_t full =
      std::min<size_t>(static_cast<size_t>(seq.num_computed / block_size_), s->blocks.size());
  if (s->hashes.size() >= full) return;
  const std::vector<uint64_t>& ids =
      sequence_block_hashes(seq, static_cast<int32_t>(full), block_size_);
  while (s->hashes.size() < full) {
    const size_t j = s->hashes.size();
    const uint64_t h = ids[j];
    s->hashes.push_back(h);
    make_findable(*s, j, h);
  }
}

PrefixCacheStats PagedKvCacheManager::prefix_cache_stats() const {
  PrefixCacheStats st;
  if (!eviction_) return st;
  st.enabled = true;
  st.block_size = block_size_;
  st.cached_blocks = static_cast<int64_t>(cache_.size());
  st.evictable_blocks = eviction_->num_evictable();
  st.hit_blocks = hit_blocks_;
  st.evicted_blocks = evicted_blocks_;
  return st;
}

// ---- admission ----------------------------------------------------------------------------

// With prefix caching, cached blocks the group begins with need no allocation, but those no
// one holds leave the evictable pool when taken: the room needed is the new blocks plus the
// distinct evictable hits (vLLM v1's check). The footprint (kNever) ignores the cache: the
// group must fit even when nothing it needs is cached.
AllocStatus PagedKvCacheManager::can_admit(const SequenceGroup& group) const {
  const int64_t full_blocks = blocks_for(int64_t{group.spec.prompt_len} + group.spec.output_len);
  const int64_t shared_prompt_blocks = group.spec.prompt_len / block_size_;
  int64_t footprint = 0;
  int64_t required = 0;
  const uint32_t epoch = eviction_ ? next_epoch() : 0;
  plan_hits_.clear();
  plan_hashes_.clear();
  plan_blocks_.clear();
  for (const Sequence& seq : group.seqs) {
    if (seq.is_finished()) continue;
    footprint += full_blocks;
    required += blocks_for(seq.num_tokens());
    const int32_t hits = lookup_prefix(seq, probe_hashes_, &probe_blocks_);
    plan_hits_.push_back(hits);
    if (hits == 0) continue;
    plan_hashes_.insert(plan_hashes_.end(), probe_hashes_.begin(), probe_hashes_.end());
    plan_blocks_.insert(plan_blocks_.end(), probe_blocks_.begin(), probe_blocks_.end());
    required -= hits;
    for (int32_t b : probe_blocks_) {
      const size_t i = static_cast<size_t>(b);
      if (device_.ref(b) != 0 || device_mark_[i] == epoch) continue;
      device_mark_[i] = epoch;
      ++required;  // an evictable hit leaves the pool of blocks admission may use
    }
  }
  const int64_t future_samples = group.spec.n - static_cast<int64_t>(group.seqs.size());
  footprint += future_samples * (full_blocks - shared_prompt_blocks);
  if (footprint > device_.num_blocks() - watermark_blocks_) return AllocStatus::kNever;
  if (available_blocks() - required < watermark_blocks_) return AllocStatus::kLater;
  return AllocStatus::kOk;
}

void PagedKvCacheManager::admit(const SequenceGroup& group) {
  if (can_admit(group) != AllocStatus::kOk) {
    throw InvariantError("paged: admit of request " + std::to_string(group.id()) +
                         " that can_admit does not allow (" + to_string(can_admit(group)) + ")");
  }
  // Every sequence takes its cached blocks before any allocates: an allocation may evict an
  // evictable block, and one another sequence of the group was counted (by can_admit) to find
  // would then be missing, with the blocks after it in its chain. Until then no identity
  // changes (taking a block changes its holders only), so the cached prefixes can_admit just
  // looked up (plan_*) are the ones to take: no second lookup.
  size_t planned = 0;  // sequences taken
  size_t at = 0;       // their hits, in plan_hashes_ / plan_blocks_
  for (const Sequence& seq : group.seqs) {
    if (seq.is_finished()) continue;
    SeqState& s = add_state(seq);
    const int32_t hits = plan_hits_[planned++];
    s.hashes.assign(plan_hashes_.begin() + static_cast<std::ptrdiff_t>(at),
                    plan_hashes_.begin() + static_cast<std::ptrdiff_t>(at + hits));
    const int32_t* hit_blocks = plan_blocks_.data() + at;
    at += static_cast<size_t>(hits);
    const int32_t final_len = seq.final_len();
    for (int32_t j = 0; j < hits; ++j) {
      const int32_t b = hit_blocks[j];
      if (device_.ref(b) == 0) {
        eviction_->on_hit(b);  // no longer evictable
        device_.take(b);
      } else {
        eviction_->on_hit(b);
        add_device_ref(b, static_cast<size_t>(j), block_size_, final_len);
      }
      s.blocks.push_back(b);
    }
    s.len = seq.num_tokens();
    s.cached_tokens = hits * block_size_;
    hit_blocks_ += hits;
  }
  for (const Sequence& seq : group.seqs) {
    if (seq.is_finished()) continue;
    SeqState& s = *states_.find(seq);  // add_state may have moved it: found afresh
    const int64_t n = blocks_for(s.len);
    for (int64_t i = static_cast<int64_t>(s.blocks.size()); i < n; ++i) {
      s.blocks.push_back(allocate_device());
    }
  }
}

// ---- growth -------------------------------------------------------------------------------

// Exact: a sequence needs a new block when its last block is full, or when it is shared and
// partly filled (copy-on-write). Of k sequences appending to one shared block with r
// references, min(k, r - 1) copy: when all r append, the last one finds it private.
bool PagedKvCacheManager::can_append(const SequenceGroup& group) const {
  int64_t needed = 0;
  bool any_cow = false;
  for (const Sequence& seq : group.seqs) {
    if (seq.is_finished()) continue;
    const SeqState* s = states_.find(seq);
    if (s == nullptr || s->on_host) continue;
    if (last_block_full(*s)) {
      ++needed;
    } else if (device_.ref(s->blocks.back()) > 1) {
      any_cow = true;
    }
  }
  if (any_cow) {
    const uint32_t epoch = next_epoch();
    for (size_t i = 0; i < group.seqs.size(); ++i) {
      const Sequence& seq = group.seqs[i];
      if (seq.is_finished()) continue;
      const SeqState* s = states_.find(seq);
      if (s == nullptr || s->on_host || last_block_full(*s)) continue;
      const int32_t block = s->blocks.back();
      const int32_t refs = device_.ref(block);
      if (refs <= 1 || device_mark_[static_cast<size_t>(block)] == epoch) continue;
      device_mark_[static_cast<size_t>(block)] = epoch;
      int64_t appending = 0;
      for (size_t j = i; j < group.seqs.size(); ++j) {
        const Sequence& other = group.seqs[j];
        if (other.is_finished()) continue;
        const SeqState* o = states_.find(other);
        if (o && !o->on_host && !last_block_full(*o) && o->blocks.back() == block) {
          ++appending;
        }
      }
      needed += std::min<int64_t>(appending, refs - 1);
    }
  }
  return needed <= available_blocks();
}

std::vector<KvCopy> PagedKvCacheManager::append_slot(const Sequence& seq) {
  SeqState* s = states_.find(seq);
  if (s == nullptr || s->on_host) {
    throw InvariantError("paged: append_slot for " + seq_name(seq) + " holding no device memory");
  }
  if (s->len >= seq.num_tokens()) {
    throw InvariantError("paged: append_slot for " + seq_name(seq) + " past its " +
                         std::to_string(seq.num_tokens()) + " tokens");
  }
  if (last_block_full(*s)) {  // (or no block): start a new one
    s->blocks.push_back(allocate_device());
    ++s->len;
    return {};
  }
  const int32_t last = s->blocks.back();
  if (device_.ref(last) == 1) {  // common path: room in a private block
    ++s->len;
    return {};
  }
  // Copy-on-write: the last block is shared; take a private copy of its filled slots.
  const int32_t filled = fill_of(*s, s->blocks.size() - 1);
  const int32_t fresh = allocate_device();
  drop_device_ref(last, s->blocks.size() - 1, filled, seq.final_len());
  s->blocks.back() = fresh;
  ++s->len;
  return {KvCopy{int64_t{last} * block_size_, int64_t{fresh} * block_size_, filled}};
}

std::vector<KvCopy> PagedKvCacheManager::fork(const Sequence& parent, const Sequence& child) {
  const SeqState* p = states_.find(parent);
  if (p == nullptr || p->on_host) {
    throw InvariantError("paged: fork from " + seq_name(parent) + " holding no device memory");
  }
  if (parent.group != child.group) {
    throw InvariantError("paged: fork of " + seq_name(child) + " from another group");
  }
  if (parent.num_computed < p->len || child.num_computed < p->len) {
    throw InvariantError("paged: fork from " + seq_name(parent) + " holding " +
                         std::to_string(p->len) + " slots with " +
                         std::to_string(parent.num_computed) + " computed (child: " +
                         std::to_string(child.num_computed) + "): only computed KV can be shared");
  }
  const size_t parent_pos = static_cast<size_t>(p - states_.begin());
  SeqState& c = add_state(child);  // may move states_: re-read the parent after it
  const SeqState& ps = states_[parent_pos];
  c.blocks = ps.blocks;
  c.len = ps.len;
  c.hashes = ps.hashes;
  const int32_t final_len = child.final_len();
  for (size_t i = 0; i < c.blocks.size(); ++i) {
    add_device_ref(c.blocks[i], i, fill_of(c, i), final_len);
  }
  return {};
}

void PagedKvCacheManager::release(const Sequence& seq) {
  SeqState* s = states_.find(seq);
  if (s == nullptr) return;
  const int32_t final_len = seq.final_len();
  for (size_t i = s->blocks.size(); i-- > 0;) {  // back to front: the front is reused first
    if (s->on_host) {
      host_.drop_ref(s->blocks[i]);
    } else {
      drop_device_ref(s->blocks[i], i, fill_of(*s, i), final_len);
    }
  }
  states_.remove(*s);
}

// ---- swapping -----------------------------------------------------------------------------

int64_t PagedKvCacheManager::distinct_blocks(const SequenceGroup& group, bool on_host) const {
  const uint32_t epoch = next_epoch();
  std::vector<uint32_t>& mark = on_host ? host_mark_ : device_mark_;
  int64_t count = 0;
  for (const Sequence& seq : group.seqs) {
    if (seq.is_finished()) continue;
    const SeqState* s = states_.find(seq);
    if (s == nullptr || s->on_host != on_host) continue;
    for (int32_t b : s->blocks) {
      if (mark[static_cast<size_t>(b)] == epoch) continue;
      mark[static_cast<size_t>(b)] = epoch;
      ++count;
    }
  }
  return count;
}

AllocStatus PagedKvCacheManager::can_swap_out(const SequenceGroup& group) const {
  const int64_t needed = distinct_blocks(group, /*on_host=*/false);
  if (needed > host_.num_blocks()) return AllocStatus::kNever;
  if (needed > host_.num_free()) return AllocStatus::kLater;
  return AllocStatus::kOk;
}

std::vector<KvCopy> PagedKvCacheManager::swap_out(const SequenceGroup& group) {
  if (can_swap_out(group) != AllocStatus::kOk) {
    throw InvariantError("paged: swap_out of request " + std::to_string(group.id()) +
                         " without room in the host pool");
  }
  std::vector<KvCopy> copies;
  const uint32_t epoch = next_epoch();
  for (const Sequence& seq : group.seqs) {
    if (seq.is_finished()) continue;
    SeqState* s = states_.find(seq);
    if (s == nullptr || s->on_host) continue;
    const int32_t final_len = seq.final_len();
    // Map forward (host blocks come out in table order), then free back to front so the
    // device free list hands the blocks out again front first, as release() does.
    for (size_t i = 0; i < s->blocks.size(); ++i) {
      const int32_t device_block = s->blocks[i];
      const size_t d = static_cast<size_t>(device_block);
      if (device_mark_[d] != epoch) {  // first holder: move the data
        device_mark_[d] = epoch;
        const int32_t host_block = host_.allocate();
        device_remap_[d] = host_block;
        append_copy(copies, int64_t{device_block} * block_size_, int64_t{host_block} * block_size_,
                    fill_of(*s, i));
      } else {
        host_.add_ref(device_remap_[d]);
      }
    }
    for (size_t i = s->blocks.size(); i-- > 0;) {
      const int32_t device_block = s->blocks[i];
      drop_device_ref(device_block, i, fill_of(*s, i), final_len);
      s->blocks[i] = device_remap_[static_cast<size_t>(device_block)];
    }
    s->on_host = true;
  }
  return copies;
}

AllocStatus PagedKvCacheManager::can_swap_in(const SequenceGroup& group) const {
  const int64_t needed = distinct_blocks(group, /*on_host=*/true);
  if (needed > device_.num_blocks() - watermark_blocks_) return AllocStatus::kNever;
  if (available_blocks() - needed < watermark_blocks_) return AllocStatus::kLater;
  return AllocStatus::kOk;
}

std::vector<KvCopy> PagedKvCacheManager::swap_in(const SequenceGroup& group) {
  if (can_swap_in(group) != AllocStatus::kOk) {
    throw InvariantError("paged: swap_in of request " + std::to_string(group.id()) +
                         " without room on the device");
  }
  std::vector<KvCopy> copies;
  const uint32_t epoch = next_epoch();
  for (const Sequence& seq : group.seqs) {
    if (seq.is_finished()) continue;
    SeqState* s = states_.find(seq);
    if (s == nullptr || !s->on_host) continue;
    const int32_t final_len = seq.final_len();
    for (size_t i = 0; i < s->blocks.size(); ++i) {
      const int32_t host_block = s->blocks[i];
      const size_t h = static_cast<size_t>(host_block);
      const int32_t fill = fill_of(*s, i);
      if (host_mark_[h] != epoch) {  // first holder: move the data
        host_mark_[h] = epoch;
        const int32_t device_block = allocate_device();
        host_remap_[h] = device_block;
        append_copy(copies, int64_t{host_block} * block_size_, int64_t{device_block} * block_size_,
                    fill);
      } else {
        add_device_ref(host_remap_[h], i, fill, final_len);
      }
    }
    for (size_t i = s->blocks.size(); i-- > 0;) {  // back to front, as in swap_out
      const int32_t host_block = s->blocks[i];
      host_.drop_ref(host_block);
      s->blocks[i] = host_remap_[static_cast<size_t>(host_block)];
    }
    s->on_host = false;
    if (eviction_) {  // blocks whose identity the cache lost meanwhile are findable again
      for (size_t j = 0; j < s->hashes.size(); ++j) make_findable(*s, j, s->hashes[j]);
    }
  }
  return copies;
}

// ---- views --------------------------------------------------------------------------------

KvLayout PagedKvCacheManager::layout(const Sequence& seq) const {
  const SeqState* s = states_.find(seq);
  if (s == nullptr || s->on_host) {
    throw InvariantError("paged: layout of " + seq_name(seq) + " holding no device memory");
  }
  KvLayout out;
  out.kind = KvLayout::Kind::kPaged;
  out.block_size = block_size_;
  out.block_table = s->blocks;
  return out;
}

// Per device sequence, its held slots [0, blocks * block_size) split at num_computed and at
// its true final length; then what shared blocks contributed more than once is taken off.
MemoryBreakdown PagedKvCacheManager::breakdown(const SequenceGroup* /*head_of_line*/) const {
  SlotClasses sum;
  for (const SeqState& s : states_) {
    if (s.on_host) continue;
    const int64_t held = static_cast<int64_t>(s.blocks.size()) * block_size_;
    const int64_t computed = std::clamp<int64_t>(s.seq->num_computed, 0, held);
    const int64_t reserved_end =
        std::max<int64_t>(computed, std::min<int64_t>(s.seq->final_len(), held));
    sum.computed += computed;
    sum.reserved += reserved_end - computed;
    sum.internal_frag += held - reserved_end;
  }
  sum -= shared_dup_;
  MemoryBreakdown b;
  b.capacity = capacity_slots();
  b.token_states = sum.computed;
  b.reserved = sum.reserved;
  b.internal_frag = sum.internal_frag;
  b.external_frag = 0;  // any free block serves any request: paging has no external gaps
  b.cached = eviction_ ? int64_t{eviction_->num_evictable()} * block_size_ : 0;
  b.free = static_cast<int64_t>(device_.num_free()) * block_size_;
  return b;
}

// ---- audit --------------------------------------------------------------------------------

namespace {
[[noreturn]] void audit_failure(const std::string& what) {
  throw InvariantError("paged audit: " + what);
}
}  // namespace

// Tests call this after every operation (in Debug + ASan builds), so it works on raw arrays
// with memset / memcmp where it can: O(blocks + table entries) with a small constant.
void PagedKvCacheManager::audit() const {
  const size_t num_device = static_cast<size_t>(device_.num_blocks());
  const size_t num_host = static_cast<size_t>(host_.num_blocks());
  states_.audit("paged audit");
  // Scratch kept between audits: fresh allocations cost more than the checks in ASan builds.
  // 0: device table references, 1: host table references, 2 / 3: per device block, the table
  // position and fill its holders see (all holders of a shared block must agree).
  for (int k = 0; k < 4; ++k) {
    std::vector<int32_t>& v = audit_scratch_[k];
    v.resize(k == 1 ? num_host : num_device);
    if (!v.empty()) std::memset(v.data(), k < 2 ? 0 : 0xff, v.size() * sizeof(int32_t));  // 0/-1
  }
  int32_t* device_refs = audit_scratch_[0].data();
  int32_t* host_refs = audit_scratch_[1].data();
  int32_t* position = audit_scratch_[2].data();
  int32_t* fill_seen = audit_scratch_[3].data();
  int64_t device_referenced = 0;  // distinct blocks in device tables
  int64_t host_referenced = 0;
  const int32_t* pool_ref = device_.refs().data();
  SlotClasses dup;
  for (const SeqState& s : states_) {
    const Sequence& seq = *s.seq;  // states_.audit: set, and its handle points back
    if (s.len < 1 || static_cast<int64_t>(s.blocks.size()) != blocks_for(s.len)) {
      audit_failure(seq_name(seq) + ": " + std::to_string(s.blocks.size()) + " blocks for " +
                    std::to_string(s.len) + " slots");
    }
    if (seq.num_computed < 0 || seq.num_computed > s.len) {
      audit_failure(seq_name(seq) + ": " + std::to_string(seq.num_computed) +
                    " computed tokens but " + std::to_string(s.len) + " slots");
    }
    if (s.len > seq.num_tokens() || s.len < seq.num_tokens() - 1) {
      audit_failure(seq_name(seq) + ": " + std::to_string(s.len) + " slots for " +
                    std::to_string(seq.num_tokens()) + " tokens (expected tokens or tokens - 1)");
    }
    const int32_t* table = s.blocks.data();
    const int32_t n = static_cast<int32_t>(s.blocks.size());
    const int32_t limit = static_cast<int32_t>(s.on_host ? num_host : num_device);
    int32_t* refs = s.on_host ? host_refs : device_refs;
    int64_t& referenced = s.on_host ? host_referenced : device_referenced;
    const int32_t final_len = seq.final_len();
    for (int32_t j = 0; j < n; ++j) {
      const int32_t b = table[j];
      if (b < 0 || b >= limit) {
        audit_failure(seq_name(seq) + ": block " + std::to_string(b) + " out of range");
      }
      if (refs[b]++ == 0) ++referenced;
      if (s.on_host || pool_ref[b] == 1) continue;  // private (the pool check sees bad counts)
      // A shared block: every holder sees it at one position with one fill, fully computed.
      const int32_t fill = std::min(block_size_, s.len - j * block_size_);
      if (position[b] < 0) {
        position[b] = j;
        fill_seen[b] = fill;
      } else {
        if (position[b] != j || fill_seen[b] != fill) {
          audit_failure(seq_name(seq) + ": shares block " + std::to_string(b) + " at position " +
                        std::to_string(j) + " with fill " + std::to_string(fill) +
                        ", another holder at " + std::to_string(position[b]) + " with fill " +
                        std::to_string(fill_seen[b]));
        }
        dup += shared_copy_classes(static_cast<size_t>(j), fill, final_len);
      }
      if (seq.num_computed < j * block_size_ + fill) {
        audit_failure(seq_name(seq) + ": shared block " + std::to_string(b) +
                      " holds tokens it has not computed");
      }
    }
  }
  const int64_t evictable = eviction_ ? eviction_->num_evictable() : 0;
  check_pool(device_, device_refs, device_referenced, evictable, "device");
  check_pool(host_, host_refs, host_referenced, 0, "host");
  if (eviction_) audit_cache();

  if (!(dup == shared_dup_)) audit_failure("shared-block accounting out of step with the tables");
  const MemoryBreakdown b = breakdown(nullptr);
  if (b.token_states < 0 || b.reserved < 0 || b.internal_frag < 0 || b.free < 0 ||
      b.sum() != b.capacity || b.capacity != capacity_slots()) {
    audit_failure("breakdown " + std::to_string(b.token_states) + "+" + std::to_string(b.reserved) +
                  "+" + std::to_string(b.internal_frag) + "+" + std::to_string(b.external_frag) +
                  "+" + std::to_string(b.free) + " does not sum to capacity " +
                  std::to_string(b.capacity));
  }
}

// Reference counts equal the table references (`table_refs`, overwritten here); the free
// list holds exactly the unreferenced blocks, each once: its entries are distinct and
// unreferenced, and with the `referenced` distinct table blocks they make up the pool.
void PagedKvCacheManager::check_pool(const BlockPool& pool, int32_t* table_refs, int64_t referenced,
                                     int64_t kept, const char* what) {
  const int32_t n = pool.num_blocks();
  const int32_t* ref = pool.refs().data();
  if (n > 0 && std::memcmp(ref, table_refs, static_cast<size_t>(n) * sizeof(int32_t)) != 0) {
    int32_t b = 0;
    while (ref[b] == table_refs[b]) ++b;
    audit_failure(std::string(what) + " block " + std::to_string(b) + ": ref count " +
                  std::to_string(ref[b]) + ", table references " + std::to_string(table_refs[b]));
  }
  const int32_t* free_list = pool.free_list().data();
  const int64_t num_free = static_cast<int64_t>(pool.free_list().size());
  for (int64_t i = 0; i < num_free; ++i) {
    const int32_t b = free_list[i];
    if (b < 0 || b >= n) audit_failure(std::string(what) + " free list: block out of range");
    if (table_refs[b] != 0) {
      audit_failure(std::string(what) + " free list holds block " + std::to_string(b) +
                    (table_refs[b] < 0 ? " twice" : ", which tables reference"));
    }
    table_refs[b] = -1;
  }
  if (num_free + referenced + kept != n) {
    int32_t b = 0;
    while (b < n && table_refs[b] != 0) ++b;
    audit_failure(std::string(what) + " block " + std::to_string(b) +
                  " is neither referenced nor on the free list (nor kept by the prefix cache)");
  }
}

// The cache's books: every cached block is findable under its identity, evictable exactly
// when no table references it, and never on the free list (check_pool counted the evictable
// ones as kept); a sequence's identities agree with the cached blocks of its table.
void PagedKvCacheManager::audit_cache() const {
  eviction_->audit();
  int64_t cached = 0, evictable = 0;
  for (int32_t b = 0; b < device_.num_blocks(); ++b) {
    const size_t i = static_cast<size_t>(b);
    const bool is_evictable = eviction_->is_evictable(b);
    if (cached_[i] == 0) {
      if (is_evictable) audit_failure("block " + std::to_string(b) + " evictable but not cached");
      continue;
    }
    ++cached;
    const int32_t* found = cache_.find(block_hash_[i]);
    if (found == nullptr || *found != b) {
      audit_failure("cached block " + std::to_string(b) + " is not findable by its identity");
    }
    if ((device_.ref(b) == 0) != is_evictable) {
      audit_failure("cached block " + std::to_string(b) + " with " +
                    std::to_string(device_.ref(b)) + " references is " +
                    (is_evictable ? "" : "not ") + "evictable");
    }
    evictable += is_evictable ? 1 : 0;
  }
  if (cached != static_cast<int64_t>(cache_.size()) || evictable != eviction_->num_evictable()) {
    audit_failure(std::to_string(cache_.size()) + " identities and " +
                  std::to_string(eviction_->num_evictable()) + " evictable blocks, but " +
                  std::to_string(cached) + " cached blocks of which " + std::to_string(evictable) +
                  " evictable");
  }
  for (int32_t b : device_.free_list()) {
    if (cached_[static_cast<size_t>(b)] != 0) {
      audit_failure("cached block " + std::to_string(b) + " on the free list");
    }
  }
  for (const SeqState& s : states_) {
    if (s.hashes.size() > s.blocks.size() ||
        static_cast<int64_t>(s.hashes.size()) * block_size_ > s.seq->num_computed) {
      audit_failure(seq_name(*s.seq) + ": " + std::to_string(s.hashes.size()) +
                    " block identities with " + std::to_string(s.seq->num_computed) +
                    " computed tokens in " + std::to_string(s.blocks.size()) + " blocks");
    }
    if (s.on_host) continue;
    for (size_t j = 0; j < s.hashes.size(); ++j) {
      const size_t b = static_cast<size_t>(s.blocks[j]);
      if (cached_[b] != 0 && block_hash_[b] != s.hashes[j]) {
        audit_failure(seq_name(*s.seq) + ": block " + std::to_string(b) + " at position " +
                      std::to_string(j) + " is cached under another identity");
      }
    }
  }
}

void register_paged(MemoryPolicyRegistry& registry) {
  registry.add({
      .name = "paged",
      .factory = [](const MemoryConfig& c) { return std::make_unique<PagedKvCacheManager>(c); },
      .description = "vLLM PagedAttention: fixed blocks, block tables, copy-on-write, host swap "
                     "pool, watermark, optional prefix caching (memory.block_size, "
                     "memory.watermark, memory.prefix_caching, memory.eviction)",
      .keys = {int_key("memory.block_size", 16, 1, kMaxBlockSize, "paged: slots per block"),
               float_key("memory.watermark", "0.01", 0.0, 1.0,
                         "paged: fraction of blocks kept free at admission", false, true),
               bool_key("memory.prefix_caching", false,
                        "paged: keep computed blocks findable by content and reuse them "
                        "(automatic prefix caching)"),
               choice_key(
                   "memory.eviction", "lru", [] { return eviction_policies().names(); },
                   "eviction policy",
                   "paged with prefix_caching: which evictable cached block goes first "
                   "(kvlab list policies)")},
      .traits = {
          .label =
              [](const MemoryConfig& c) {
                return "paged(block " + std::to_string(block_size_of(c)) +
                       (c.settings.get_bool("memory.prefix_caching")
                            ? ", cache " + c.settings.get_choice("memory.eviction")
                            : std::string()) +
                       ")";
              },
          .swap_unit_slots = [](const MemoryConfig& c) -> int64_t { return block_size_of(c); },
          .prefix_caching = true},
  });
}

}  // namespace kvlab
