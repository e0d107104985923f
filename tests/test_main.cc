// The main of every GoogleTest suite: the built-in policies, back ends and trace formats are
// registered explicitly (app/builtins.h) before any test runs, as the kvlab CLI does.
#include <gtest/gtest.h>

#include "app/builtins.h"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  kvlab::register_builtins();
  return RUN_ALL_TESTS();
}
