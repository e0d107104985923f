// The main of every Google Benchmark binary: the built-ins are registered explicitly
// (app/builtins.h) before any benchmark runs.
#include <benchmark/benchmark.h>

#include "app/builtins.h"

int main(int argc, char** argv) {
  kvlab::register_builtins();
  ::benchmark::Initialize(&argc, argv);
  if (::benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  ::benchmark::RunSpecifiedBenchmarks();
  ::benchmark::Shutdown();
  return 0;
}
