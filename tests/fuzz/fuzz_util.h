// What every libFuzzer harness shares. The rule each one checks: an input is either read (or
// run) or refused with InputError whose message is bounded and printable. Anything else is a
// finding: another exception escaping (the CLI's "internal error"), a crash or sanitizer
// report, a hang (libFuzzer's -timeout) or runaway memory (-rss_limit_mb).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/errors.h"

namespace kvlab::fuzz {

// Writes the input to this process's scratch file ending in `extension` (".csv": readers
// pick formats by name) and returns its path. The file is rewritten on every call.
std::string write_input(std::string_view bytes, const std::string& extension);

// Aborts, so that libFuzzer saves the input, when `error`'s message is longer than InputError
// promises or holds a control byte.
void check_message(const InputError& error);

// Runs `call`; an InputError is an expected outcome (its message checked), any other
// exception escapes to libFuzzer as a crash.
template <typename Call>
void expect_read_or_refused(Call&& call) {
  try {
    call();
  } catch (const InputError& error) {
    check_message(error);
  }
}

inline std::string_view as_text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

}  // namespace kvlab::fuzz
