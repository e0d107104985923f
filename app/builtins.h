// Every built-in implementation, registered explicitly in one place (as llama.cpp's backend
// registry lists its backends): memory policies, schedulers, preemption and victim rules,
// cost models, back ends and trace formats, each through its folder's register_*() function,
// and the application's own config keys (app/experiment_keys.h).
//
// register_builtins() is idempotent and thread-safe (std::call_once). The kvlab CLI, the LLM
// API and the experiment runner call it; a program or test that creates policies from the
// registries calls it first (the test suites do it in tests/test_main.cc). A policy of one's
// own is added the same way, by calling its register function on the registry after this.
#pragma once

namespace kvlab {

void register_builtins();

}  // namespace kvlab
