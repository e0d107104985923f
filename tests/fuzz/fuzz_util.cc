#include "tests/fuzz/fuzz_util.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>

namespace kvlab::fuzz {

namespace {

// Scratch files of this process, removed at exit.
std::map<std::string, std::string>& scratch_files() {
  static auto* files = [] {
    auto* made = new std::map<std::string, std::string>();
    std::atexit([] {
      for (const auto& [extension, path] : scratch_files()) std::remove(path.c_str());
    });
    return made;
  }();
  return *files;
}

}  // namespace

std::string write_input(std::string_view bytes, const std::string& extension) {
  auto& files = scratch_files();
  auto it = files.find(extension);
  if (it == files.end()) {
    const auto dir = std::filesystem::temp_directory_path();
    const std::string name = "kvlab-fuzz-" + std::to_string(getpid()) + extension;
    it = files.emplace(extension, (dir / name).string()).first;
  }
  std::ofstream out(it->second, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) {
    std::fprintf(stderr, "fuzz: cannot write %s\n", it->second.c_str());
    std::abort();
  }
  return it->second;
}

void check_message(const InputError& error) {
  const std::string_view message = error.what();
  // Source and field at most kMaxPartBytes each, the reason kMaxReasonBytes, each possibly
  // escaped (\xNN: 4 bytes a byte) plus a "(N more bytes)" note: generous, but not unbounded.
  constexpr size_t kBound = 4 * (2 * InputError::kMaxPartBytes + InputError::kMaxReasonBytes) + 256;
  bool printable = true;
  for (const char c : message) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) printable = false;
  }
  if (message.size() > kBound || !printable) {
    std::fprintf(stderr, "fuzz: unbounded or unprintable message (%zu bytes)\n", message.size());
    std::abort();
  }
}

}  // namespace kvlab::fuzz
