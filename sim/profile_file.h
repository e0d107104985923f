// Profile files: an OperatorProfile (core/operator_profile.h) as self-describing JSON
// (format "kvlab-profile", version 1; docs/results-format.md, "Profile files"), and the checks
// that tie a profile to an experiment.
//
// Thread safety: the functions keep no state; concurrent calls are safe.
#pragma once

#include <string>

#include "core/experiment.h"
#include "core/operator_profile.h"

namespace kvlab {

// The profile as JSON text (pretty-printed, keys in a fixed order).
std::string profile_to_json(const OperatorProfile& profile);

// Parses JSON text. Throws InputError naming `source` and the JSON field for malformed text,
// a different format or version, a missing field, a table whose values do not match its grid,
// or axis points that are negative or not strictly increasing.
OperatorProfile profile_from_json(const std::string& text, const std::string& source);

// Reads a profile file. Throws InputError naming the path when it cannot be read or parsed.
OperatorProfile read_profile(const std::string& path);

// Throws InputError naming `key` (backend.profile) when `profile` was taken with another model
// shape or KV dtype than `config`'s: the message names both (the profile's and the
// experiment's).
void check_profile_matches(const OperatorProfile& profile, const ExperimentConfig& config,
                           const std::string& key);

// Every table value multiplied by `factor` (> 0), overhead included: a deliberately wrong
// profile, for checking that fidelity reports the error.
OperatorProfile scaled_profile(OperatorProfile profile, double factor);

}  // namespace kvlab
