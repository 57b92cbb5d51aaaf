#pragma once
// Environment for integration tests, as printed by `scripts/services env`.
// A missing variable is a test FAILURE, never a skip: CI without servers must go red.
#include <gtest/gtest.h>

#include <string>

namespace txcoord::testing {

// The value of `name`, or "" (and the current test is marked failed) if unset.
std::string RequiredEnv(const char* name);

}  // namespace txcoord::testing

// ASSERTs that the variable is set; `var` receives its value.
#define TXC_REQUIRE_ENV(var, name)                                    \
  const std::string var = ::txcoord::testing::RequiredEnv(name);      \
  ASSERT_FALSE(var.empty()) << name                                   \
                            << " is not set: start the servers with " \
                               "`scripts/services start` and eval `scripts/services env`"
