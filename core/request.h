// The data model of a serving run: what a user asked for (RequestSpec), the token streams
// being generated (Sequence), and the unit the scheduler admits, preempts and finishes
// together (SequenceGroup: one request with its n parallel samples).
//
// These are plain structs owned by the Engine. Policies read them and the scheduler updates
// them after each step (Scheduler::update_from_output); a memory manager may keep pointers to the
// Sequences it holds memory for, which stay valid until it releases them (a group reserves room for
// all n samples up front, so Sequence addresses never move), and writes its own index into each
// (Sequence::kv_handle).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace kvlab {

using RequestId = int64_t;
using SeqId = int64_t;

// How a real back end picks tokens (the simulator ignores it). Greedy by default; random
// draws are seeded per (seed, sample index, position), so a request's tokens do not depend
// on batching, memory policy or preemption.
struct SamplingParams {
  float temperature = 0.0f;         // 0: greedy
  int32_t top_k = 0;                // 0: all tokens
  float top_p = 1.0f;               // nucleus mass in (0, 1]
  float repetition_penalty = 1.0f;  // 1: off
  uint64_t seed = 0;
};

// One request as a workload describes it.
struct RequestSpec {
  RequestId id = 0;
  double arrival_s = 0.0;    // when it reaches the server
  int32_t prompt_len = 0;    // tokens in the prompt (> 0)
  int32_t output_len = 0;    // tokens it will generate (> 0); like vLLM's max_tokens with
                             // ignore_eos: the measurement knows it, policies other than
                             // contiguous/oracle must not use it to decide anything
  int32_t n = 1;             // parallel samples sharing the prompt
  // What the tokens are, for prefix caching, when token ids are not given (the simulator):
  // tokens [0, named_len) are named by prefix_hashes, prefix_hash_tokens tokens to an entry
  // (token p by entry p / prefix_hash_tokens); requests whose entries agree up to and
  // including p's hold the same tokens up to p. Tokens past named_len are the request's own.
  // named_len may pass prompt_len: the first sample's answer is then named too (a multi-turn
  // conversation, whose next turn's prompt contains this answer). Sources: Mooncake (512
  // tokens an entry, the prompt named), multi-turn ShareGPT (one entry, the conversation, over
  // the prompt and the answer), a shared system prompt (one entry over its tokens). See
  // core/block_hash.h for how a KV block's identity follows.
  std::vector<uint64_t> prefix_hashes;
  int32_t prefix_hash_tokens = 512;
  int32_t named_len = 0;
  std::vector<int32_t> prompt_tokens;   // token ids for real back ends, may be empty
  // A conversation's next turn (closed loop): when follows >= 0, this request arrives
  // think_time_s after request `follows` (an earlier request of the workload) ends (finishes,
  // or is rejected), not at arrival_s; arrival_s is then only its place in the workload's
  // order. The Engine sets the actual arrival when the predecessor ends.
  int64_t follows = -1;
  double think_time_s = 0.0;
  // Tokens whose KV arrives computed with the request (a disaggregated cluster's decode side,
  // core/cluster.h: the prompt its prefill replica computed): its first admission allocates
  // them and starts the sequence after them, as it does a cached prefix. A re-admission
  // after recompute preemption computes them again. REQUIRES: < prompt_len.
  int32_t transferred_len = 0;
  SamplingParams sampling;
  int64_t source_line = 0;   // line of the trace it came from (0 for generated requests)
};

enum class SeqStatus { kWaiting, kRunning, kSwapped, kFinished };
enum class GroupStatus { kWaiting, kRunning, kSwapped, kFinished, kRejected };

const char* to_string(SeqStatus s);
const char* to_string(GroupStatus s);

struct SequenceGroup;

// The KvCacheManager holding a sequence's memory files its books for it under a dense index
// of its own and writes that index here, so it reaches them without hashing the id on every
// can_append / append_slot. Only that manager reads or writes it (KvCacheManager's contract:
// one manager holds a sequence at a time); it is opaque to everyone else.
//
// The handle names the object, not its value: a copy of a Sequence (a fork copies the
// parent) is a sequence no manager holds yet, so copying gives an empty handle and
// assignment leaves the target's own. A manager checks that the index it reads names this
// very Sequence in its books, so a stale handle, or one another manager wrote, reads as "not
// held here" and is never followed blindly (see policies/memory/sequence_table.h).
class KvHandle {
 public:
  static constexpr int32_t kNone = -1;
  KvHandle() = default;
  KvHandle(const KvHandle&) noexcept {}
  KvHandle& operator=(const KvHandle&) noexcept { return *this; }

  int32_t index() const { return index_; }
  void set(int32_t index) { index_ = index; }
  void clear() { index_ = kNone; }

 private:
  int32_t index_ = kNone;
};

// One token stream. Its tokens are the prompt followed by what it generated; the first
// `num_computed` of them have their KV in the cache. A step processes the pending tokens
// [num_computed, num_tokens()) (all of them, or a chunk), and when it reaches the end it
// samples one new token.
struct Sequence {
  SeqId id = 0;
  SequenceGroup* group = nullptr;
  int32_t prompt_len = 0;
  int32_t num_generated = 0;
  int32_t num_computed = 0;
  SeqStatus status = SeqStatus::kWaiting;
  std::vector<int32_t> token_ids;  // prompt + generated ids; empty in the simulator
  // The holding memory manager's (managers get `const Sequence&`, hence mutable).
  mutable KvHandle kv_handle;
  // Identities of the leading full blocks at block size block_hashes_block_size, a memo
  // (core/block_hash.h, sequence_block_hashes). Whoever changes tokens a memoized block
  // covers (only tests and benchmarks reuse a sequence so) must clear it.
  mutable std::vector<uint64_t> block_hashes;
  mutable int32_t block_hashes_block_size = 0;

  int32_t num_tokens() const { return prompt_len + num_generated; }
  int32_t num_pending() const { return num_tokens() - num_computed; }
  // True final length (prompt + output): for measurement (the memory breakdown) and the
  // oracle reservation only.
  int32_t final_len() const;
  bool is_finished() const { return status == SeqStatus::kFinished; }
  // In its prompt phase: pending tokens beyond the one last sampled.
  bool in_prefill() const { return num_pending() > 1 || num_generated == 0; }
};

// A request and its samples. Starts with one sequence; when the prompt is done and
// spec.n > 1, the scheduler forks n - 1 children that share the prompt's KV
// (Scheduler::update_from_output).
struct SequenceGroup {
  explicit SequenceGroup(RequestSpec request);
  SequenceGroup(const SequenceGroup&) = delete;
  SequenceGroup& operator=(const SequenceGroup&) = delete;

  RequestSpec spec;
  std::vector<Sequence> seqs;  // capacity reserved for spec.n: addresses are stable
  GroupStatus status = GroupStatus::kWaiting;
  std::string reject_reason;   // set when status == kRejected

  // Measurements, filled by the Engine.
  double first_scheduled_s = -1.0;
  double first_token_s = -1.0;
  double finish_s = -1.0;
  int32_t num_preemptions = 0;
  int32_t num_recomputes = 0;
  int32_t num_swaps = 0;       // swap-out events
  int64_t swapped_slots = 0;   // slots moved out and in
  // Per sample (index in seqs): when its latest token was sampled, and the gaps between its
  // consecutive tokens (the inter-token latencies). Empty until the first token.
  std::vector<double> last_token_s;
  std::vector<std::vector<float>> itl_s;
  // Prefix caching (set by the scheduler at admission): prompt tokens whose KV the first
  // admission found cached (-1: never admitted), and tokens found cached over all admissions
  // (re-admissions after recompute included): prefill the run did not have to compute.
  int32_t cached_prompt_tokens = -1;
  int64_t cached_tokens = 0;

  RequestId id() const { return spec.id; }
  bool has_forked() const { return static_cast<int32_t>(seqs.size()) == spec.n; }
  bool is_finished() const { return status == GroupStatus::kFinished; }
  int32_t num_unfinished() const;
  // Adds a child that copies `parent`'s tokens; REQUIRES seqs.size() < spec.n.
  Sequence& add_child(const Sequence& parent, SeqId child_id);
};

// Assigns sequence ids: group id * kMaxSamples + index, so ids are stable and readable.
inline constexpr int32_t kMaxSamples = 256;
inline SeqId make_seq_id(RequestId request, int32_t index) {
  return request * kMaxSamples + index;
}

}  // namespace kvlab
