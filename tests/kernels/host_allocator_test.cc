// retain_freed_host_memory (kernels/host_allocator.h): once called, the large blocks a step
// allocates and frees are served the next time from memory the process already has, so
// writing them takes no new page faults (with glibc's default thresholds, the heap top they
// leave free is trimmed back to the system, and faulted in again by the next step). Each test runs
// in its own process (ctest), so the process-wide setting does not leak into other tests.
#include "kernels/host_allocator.h"

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <cstdlib>
#include <cstring>
#include <vector>

namespace kvlab {
namespace {

long minor_faults() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_minflt;
}

// Page faults taken by a step-like pattern: four 1 MiB blocks (a step's activations) live at
// once, every byte written, then all freed.
long faults_of_a_step() {
  const long before = minor_faults();
  constexpr size_t kBlock = size_t{1} << 20;
  std::vector<void*> blocks;
  for (int i = 0; i < 4; ++i) {
    blocks.push_back(std::malloc(kBlock));
    EXPECT_NE(blocks.back(), nullptr);
    std::memset(blocks.back(), 1, kBlock);
  }
  const long faults = minor_faults() - before;
  for (void* b : blocks) std::free(b);
  return faults;
}

constexpr long kStepPages = 1024;  // 4 MiB of 4 KiB pages

TEST(HostAllocator, AStepsFreedBlocksAreReusedWithoutFaults) {
  retain_freed_host_memory();
  retain_freed_host_memory();  // idempotent
  faults_of_a_step();          // grows the heap once
  EXPECT_LT(faults_of_a_step(), kStepPages / 16);
  EXPECT_LT(faults_of_a_step(), kStepPages / 16);
}

#if defined(__GLIBC__)
TEST(HostAllocator, WithoutItGlibcFaultsEveryStepsBlocksInAgain) {
  faults_of_a_step();
  faults_of_a_step();                             // glibc's sliding thresholds have moved by now
  EXPECT_GT(faults_of_a_step(), kStepPages / 2);  // what the cpu back end's steps paid
}
#endif

}  // namespace
}  // namespace kvlab
