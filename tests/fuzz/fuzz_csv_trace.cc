// libFuzzer harness: the CSV trace readers (length-csv, timed-csv, azure-csv, burstgpt-csv, and
// the generic csv with column mappings for the timed and BurstGPT headers), bad rows refused and
// skipped. Seeds: corpus/fuzz_csv_trace/.
#include "app/builtins.h"
#include "tests/fuzz/fuzz_util.h"
#include "traces/read_trace.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  kvlab::register_builtins();
  const std::string path = kvlab::fuzz::write_input(kvlab::fuzz::as_text(data, size), ".csv");
  for (const char* format : {"length-csv", "timed-csv", "azure-csv", "burstgpt-csv"}) {
    for (const bool skip : {false, true}) {
      kvlab::fuzz::expect_read_or_refused(
          [&] { kvlab::read_trace(path, format, kvlab::TraceReadOptions{.skip_bad_rows = skip}); });
    }
  }
  for (const char* columns :
       {"arrival:arrived_at, prompt:num_prefill_tokens, output:num_decode_tokens",
        "arrival:Timestamp, prompt:Request tokens, output:Response tokens"}) {
    for (const bool skip : {false, true}) {
      kvlab::fuzz::expect_read_or_refused([&] {
        kvlab::read_trace(path, "csv",
                          kvlab::TraceReadOptions{.skip_bad_rows = skip, .columns = columns,
                                                  .arrival_unit = "ms"});
      });
    }
  }
  return 0;
}
