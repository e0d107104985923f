// libFuzzer harness: the CSV trace readers (length-csv, timed-csv, azure-csv), bad rows
// refused and skipped. Seeds: corpus/fuzz_csv_trace/.
#include "app/builtins.h"
#include "tests/fuzz/fuzz_util.h"
#include "traces/read_trace.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  kvlab::register_builtins();
  const std::string path = kvlab::fuzz::write_input(kvlab::fuzz::as_text(data, size), ".csv");
  for (const char* format : {"length-csv", "timed-csv", "azure-csv"}) {
    for (const bool skip : {false, true}) {
      kvlab::fuzz::expect_read_or_refused(
          [&] { kvlab::read_trace(path, format, kvlab::TraceReadOptions{.skip_bad_rows = skip}); });
    }
  }
  return 0;
}
