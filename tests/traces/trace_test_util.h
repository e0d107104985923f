// Helpers for the trace tests: a private temporary folder to write small trace files into,
// and a check that a call throws InputError, returning its message.
#pragma once

#include <functional>
#include <string>

#include "core/workload.h"

namespace kvlab::testing {

// A fresh folder under the test temp dir, removed (with its files) on destruction.
class TempTraceDir {
 public:
  TempTraceDir();
  ~TempTraceDir();
  TempTraceDir(const TempTraceDir&) = delete;
  TempTraceDir& operator=(const TempTraceDir&) = delete;

  // Writes `content` byte for byte to NAME in the folder; returns its path.
  std::string write(const std::string& name, const std::string& content) const;
  std::string path(const std::string& name) const;

 private:
  std::string dir_;
};

// Runs `call`; adds a test failure when it does not throw InputError. Returns the message.
std::string input_error_message(const std::function<void()>& call);

// Reads `path` with the registered reader `format`.
// `columns`: workload.columns, for the generic formats csv and jsonl (the others ignore it).
TraceData read_with(const std::string& format, const std::string& path, bool skip_bad_rows = false,
                    const std::string& columns = "");

// A shipped file under the source tree (KVLAB_SOURCE_DIR).
std::string source_path(const std::string& relative);

}  // namespace kvlab::testing
