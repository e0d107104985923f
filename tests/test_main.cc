// The main of every GoogleTest suite: the built-in policies, back ends and trace formats are
// registered explicitly (app/builtins.h) before any test runs, as the kvlab CLI does.
#include <gtest/gtest.h>

#include "app/builtins.h"

int main(int argc, char** argv) {
  // Before InitGoogleTest: parameterized suites list registered policies (e.g. every eviction
  // policy) when gtest registers them, inside InitGoogleTest.
  kvlab::register_builtins();
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
