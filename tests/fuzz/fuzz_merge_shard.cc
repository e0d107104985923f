// libFuzzer harness: `kvlab merge`'s input, a results shard (HDF5) as written by
// `kvlab run --shard I/N`, merged alone into a scratch output. Seeds: corpus/fuzz_merge_shard/
// (a small shard). Most mutations land in the HDF5 library's own file parsing.
#include <cstdio>
#include <filesystem>

#include "app/results_writer.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string shard = kvlab::fuzz::write_input(kvlab::fuzz::as_text(data, size), ".h5");
  const std::string out = shard + ".merged.h5";
  kvlab::fuzz::expect_read_or_refused(
      [&] { kvlab::merge_results_hdf5(out, {shard}, "kvlab merge (fuzz)"); });
  std::remove(out.c_str());
  return 0;
}
