// "Did you mean": the known name closest to a misspelled one, for error messages that name an
// unknown policy, key or section. Pure functions, thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace kvlab {

// The optimal-string-alignment (restricted Damerau-Levenshtein) distance between `a` and `b`:
// the fewest single-character insertions, deletions, substitutions and transpositions of two
// adjacent characters that turn one into the other, no substring edited twice. Bytes are
// compared exactly (case matters).
size_t edit_distance(const std::string& a, const std::string& b);

// The name in `known` closest to `name` by edit_distance, when that distance is at most
// max(1, name.size() / 3); "" when no known name is that close. Ties go to the name that sorts
// first. `name` itself is returned when it is known.
std::string did_you_mean(const std::string& name, const std::vector<std::string>& known);

// "unknown WHAT 'NAME' (did you mean 'CLOSE'?; known: A, B, C)", the suggestion left out when
// did_you_mean finds none; `known` is listed in the order given.
std::string unknown_name_message(const std::string& what, const std::string& name,
                                 const std::vector<std::string>& known);

}  // namespace kvlab
