// fail_field: an InputError for a config key, naming the file and line its value came from
// when the experiment was read from a file, or just the key when the config was built in code.
#pragma once

#include <string>

#include "core/config.h"
#include "core/errors.h"

namespace kvlab {

[[noreturn]] inline void fail_field(const Config& raw, const std::string& key,
                                    const std::string& message) {
  if (raw.has(key)) raw.fail(key, message);
  throw InputError("", 0, key, message);
}

}  // namespace kvlab
