// libFuzzer harness: the Mooncake JSONL reader and the generic jsonl reader (mapped to the
// same keys), bad rows refused and skipped. Seeds: corpus/fuzz_mooncake_jsonl/.
#include "app/builtins.h"
#include "tests/fuzz/fuzz_util.h"
#include "traces/read_trace.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  kvlab::register_builtins();
  const std::string path = kvlab::fuzz::write_input(kvlab::fuzz::as_text(data, size), ".jsonl");
  for (const bool skip : {false, true}) {
    kvlab::fuzz::expect_read_or_refused([&] {
      kvlab::read_trace(path, "mooncake-jsonl", kvlab::TraceReadOptions{.skip_bad_rows = skip});
    });
    kvlab::fuzz::expect_read_or_refused([&] {
      kvlab::read_trace(
          path, "jsonl",
          kvlab::TraceReadOptions{
              .skip_bad_rows = skip,
              .columns = "arrival:timestamp, prompt:input_length, output:output_length",
              .arrival_unit = "ms"});
    });
  }
  return 0;
}
