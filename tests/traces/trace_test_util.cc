#include "tests/traces/trace_test_util.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>

#include "core/errors.h"

namespace kvlab::testing {

namespace {
std::atomic<int> next_dir_id{0};
}

TempTraceDir::TempTraceDir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = info ? std::string(info->test_suite_name()) + "." + info->name() : "x";
  for (char& c : name) {
    if (c == '/') c = '_';
  }
  dir_ = (std::filesystem::path(::testing::TempDir()) /
          ("kvlab_traces_" + std::to_string(::getpid()) + "_" + std::to_string(next_dir_id++) +
           "_" + name))
             .string();
  std::filesystem::create_directories(dir_);
}

TempTraceDir::~TempTraceDir() {
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

std::string TempTraceDir::path(const std::string& name) const {
  return (std::filesystem::path(dir_) / name).string();
}

std::string TempTraceDir::write(const std::string& name, const std::string& content) const {
  const std::string file = path(name);
  std::ofstream out(file, std::ios::binary);
  out << content;
  return file;
}

std::string input_error_message(const std::function<void()>& call) {
  try {
    call();
  } catch (const InputError& error) {
    return error.what();
  } catch (const std::exception& error) {
    ADD_FAILURE() << "expected InputError, got another exception: " << error.what();
    return "";
  }
  ADD_FAILURE() << "expected InputError, nothing was thrown";
  return "";
}

TraceData read_with(const std::string& format, const std::string& path, bool skip_bad_rows,
                    const std::string& columns) {
  TraceReadOptions options;
  options.skip_bad_rows = skip_bad_rows;
  options.columns = columns;
  return trace_readers().create(format, {})->read(path, options);
}

std::string source_path(const std::string& relative) {
  return (std::filesystem::path(KVLAB_SOURCE_DIR) / relative).string();
}

}  // namespace kvlab::testing
