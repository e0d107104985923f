// libFuzzer harness: format detection ("auto") and the workload loader over a trace of any
// format: the first byte picks the file's extension (detection looks at it), the rest is the
// file. Seeds: corpus/fuzz_workload/ (a byte 0-3, then a trace of each format).
#include <array>

#include "app/builtins.h"
#include "core/experiment.h"
#include "tests/fuzz/fuzz_util.h"
#include "traces/read_trace.h"
#include "traces/workload_loader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  kvlab::register_builtins();
  if (size == 0) return 0;
  static const std::array<const char*, 4> kExtensions = {".csv", ".json", ".jsonl", ".txt"};
  const std::string path = kvlab::fuzz::write_input(kvlab::fuzz::as_text(data + 1, size - 1),
                                                    kExtensions[data[0] % kExtensions.size()]);
  kvlab::fuzz::expect_read_or_refused([&] { kvlab::detect_trace_format(path); });
  for (const bool skip : {false, true}) {
    kvlab::fuzz::expect_read_or_refused([&] {
      kvlab::WorkloadConfig config;
      config.trace = path;
      config.format = "auto";
      config.skip_bad_rows = skip;
      kvlab::load_workload(config);
    });
  }
  return 0;
}
