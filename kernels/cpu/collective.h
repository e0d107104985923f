// Collectives among the ranks of a tensor-parallel group: the communication the cpu back end's
// sharded model (kernels/model/tensor_parallel.h) needs, behind an interface a NCCL
// communicator can implement on several GPUs (one Communicator per rank, as one ncclComm_t per
// rank; every rank calls the same collectives in the same order, SPMD).
//
// Determinism: every collective gives every rank the same bits, whatever the threads' timing.
// all_reduce_sum adds the ranks' buffers in rank order (((b0 + b1) + b2) + ...), always;
// all_gather_columns only copies.
//
// SharedMemoryGroup implements it for ranks that are threads of one process: each rank
// publishes its buffer's address, a barrier, then each rank does its share of the work on
// every rank's buffer (a reduce-scatter and all-gather in one pass over shared memory), a
// second barrier. Waits block on a condition variable (no spinning). When a rank fails
// between collectives, abort() makes every wait, present and future, throw CollectiveAborted,
// so the other ranks return instead of waiting forever.
//
// Thread safety: a rank's Communicator is used by one thread at a time; different ranks'
// communicators are used concurrently (that is the point).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <stdexcept>
#include <vector>

#include "kernels/cpu/tensor.h"

namespace kvlab::cpu {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int32_t rank() const = 0;
  virtual int32_t size() const = 0;

  // Every rank passes a buffer of the same shape; on return each holds the element-wise sum of
  // all of them, added in rank order (ncclAllReduce with ncclSum).
  // REQUIRES (checked, InvariantError on every rank): equal shapes.
  virtual void all_reduce_sum(MatrixRef buffer) = 0;

  // Every rank passes a buffer of the same shape [rows][offsets.back()] in which it has filled
  // the column block [offsets[rank], offsets[rank + 1]); on return every rank's buffer holds
  // every rank's block (an in-place ncclAllGather, by column blocks).
  // REQUIRES (checked): equal shapes; offsets has size() + 1 non-decreasing entries from 0 to
  // buffer.cols(), the same on every rank.
  virtual void all_gather_columns(MatrixRef buffer, std::span<const Eigen::Index> offsets) = 0;

  // Seconds this rank has spent inside collectives so far, waits for the other ranks included
  // (what a NCCL profile reports as the collective's time on that rank).
  virtual double seconds() const = 0;
};

// Thrown by a wait of a group that was aborted.
class CollectiveAborted : public std::runtime_error {
 public:
  CollectiveAborted() : std::runtime_error("collective aborted: another rank failed") {}
};

// A reusable barrier for `count` threads whose waits can be cancelled.
class AbortableBarrier {
 public:
  explicit AbortableBarrier(int32_t count) : count_(count) {}
  // Blocks until `count` threads have arrived in this round. Throws CollectiveAborted when
  // abort() was called, before or during the wait.
  void arrive_and_wait();
  void abort();

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int32_t count_;
  int32_t arrived_ = 0;
  uint64_t round_ = 0;
  bool aborted_ = false;
};

class SharedMemoryGroup {
 public:
  // REQUIRES (checked): size >= 1.
  explicit SharedMemoryGroup(int32_t size);
  ~SharedMemoryGroup();
  SharedMemoryGroup(const SharedMemoryGroup&) = delete;
  SharedMemoryGroup& operator=(const SharedMemoryGroup&) = delete;

  int32_t size() const { return static_cast<int32_t>(ranks_.size()); }
  // Rank r's communicator. REQUIRES: 0 <= r < size().
  Communicator& rank(int32_t r);
  // Every wait of every rank throws CollectiveAborted from now on.
  void abort() { barrier_.abort(); }

 private:
  class Rank;
  struct Posted {  // a rank's buffer during a collective
    float* data = nullptr;
    Eigen::Index rows = 0, cols = 0, stride = 0;
  };
  AbortableBarrier barrier_;
  std::vector<Posted> posted_;
  std::vector<std::unique_ptr<Rank>> ranks_;
};

}  // namespace kvlab::cpu
