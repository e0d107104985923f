#include "kernels/cpu/rank_threads.h"

#include "core/errors.h"
#include "kernels/cpu/collective.h"

namespace kvlab::cpu {

RankThreads::RankThreads(int32_t ranks)
    : ranks_(ranks), errors_(static_cast<size_t>(ranks > 0 ? ranks : 0)) {
  check_invariant(ranks >= 1, "RankThreads: needs at least one rank");
  for (int32_t r = 1; r < ranks; ++r) threads_.emplace_back([this, r] { worker(r); });
}

RankThreads::~RankThreads() {
  {
    const std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  for (std::thread& t : threads_) t.join();
}

void RankThreads::call(int32_t rank) {
  try {
    (*fn_)(rank);
  } catch (...) {
    errors_[static_cast<size_t>(rank)] = std::current_exception();
    if (on_failure_ != nullptr && *on_failure_) (*on_failure_)();
  }
}

void RankThreads::worker(int32_t rank) {
  uint64_t seen = 0;
  for (;;) {
    {
      std::unique_lock lock(mu_);
      wake_.wait(lock, [&] { return stop_ || job_ != seen; });
      if (stop_) return;
      seen = job_;
    }
    call(rank);
    {
      const std::lock_guard lock(mu_);
      if (--pending_ == 0) done_.notify_one();
    }
  }
}

void RankThreads::run(const std::function<void(int32_t)>& fn,
                      const std::function<void()>& on_failure) {
  for (std::exception_ptr& e : errors_) e = nullptr;
  {
    const std::lock_guard lock(mu_);
    fn_ = &fn;
    on_failure_ = &on_failure;
    pending_ = ranks_ - 1;
    ++job_;
  }
  wake_.notify_all();
  call(0);
  {
    std::unique_lock lock(mu_);
    done_.wait(lock, [&] { return pending_ == 0; });
    fn_ = nullptr;
    on_failure_ = nullptr;
  }
  std::exception_ptr first_aborted;
  for (const std::exception_ptr& e : errors_) {
    if (!e) continue;
    try {
      std::rethrow_exception(e);
    } catch (const CollectiveAborted&) {
      if (!first_aborted) first_aborted = e;
    } catch (...) {
      throw;
    }
  }
  if (first_aborted) std::rethrow_exception(first_aborted);
}

}  // namespace kvlab::cpu
