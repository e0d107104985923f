// RankThreads: the threads a tensor-parallel group's ranks run on in one process, kept for the
// whole run (as vLLM keeps one worker per GPU): ranks - 1 workers plus the calling thread,
// which runs rank 0. run(fn) hands every rank its part of one step and returns when all are
// done. Workers sleep on a condition variable between steps (no spinning).
//
// Failure: when a rank's fn throws, `on_failure` (given to run) is called at once on that
// rank's thread, so a rank waiting in a collective for it can be released
// (SharedMemoryGroup::abort); run rethrows, after every rank has returned, the exception of
// the lowest rank that failed other than by CollectiveAborted (or that one if none other).
//
// Thread safety: run() is called from one thread at a time.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace kvlab::cpu {

class RankThreads {
 public:
  // REQUIRES (checked): ranks >= 1. Starts ranks - 1 threads.
  explicit RankThreads(int32_t ranks);
  ~RankThreads();  // joins the workers
  RankThreads(const RankThreads&) = delete;
  RankThreads& operator=(const RankThreads&) = delete;

  int32_t size() const { return ranks_; }

  // Calls fn(r) for every rank r at once (rank 0 on this thread) and returns when all have.
  void run(const std::function<void(int32_t)>& fn, const std::function<void()>& on_failure = {});

 private:
  void worker(int32_t rank);
  void call(int32_t rank);

  int32_t ranks_;
  std::mutex mu_;
  std::condition_variable wake_, done_;
  uint64_t job_ = 0;     // incremented per run(); workers run each job once
  int32_t pending_ = 0;  // workers still on the current job
  bool stop_ = false;
  const std::function<void(int32_t)>* fn_ = nullptr;
  const std::function<void()>* on_failure_ = nullptr;
  std::vector<std::exception_ptr> errors_;  // per rank, of the current job
  std::vector<std::thread> threads_;
};

}  // namespace kvlab::cpu
