// Test support for lagoon's MPI tests: the Runtime made by the shared main, a
// fixture that fails a test on every rank if it failed on any, and helpers.
#pragma once

#include <gtest/gtest.h>

#include <lagoon/lagoon.hpp>
#include <string>
#include <string_view>

namespace lagoon::testing {

/// The Runtime that the test main created for the whole run.
Runtime& runtime();

/// Base of every MPI test: at its end, the ranks' results are gathered (on a
/// duplicated communicator, once per test) and the test fails on every rank,
/// naming the ranks, if it failed on any.
class MpiTest : public ::testing::Test {
 protected:
  void TearDown() override;
};

/// Whether `f()` throws E with `needle` in its message. On world rank 0 the message
/// is printed, so the test log shows what a user would read.
template <class E, class F>
::testing::AssertionResult throws(F&& f, std::string_view needle) {
  try {
    f();
  } catch (const E& e) {
    const std::string_view what = e.what();
    if (runtime().rank() == 0) std::printf("    [message] %s: %s\n", ::testing::internal::GetTypeName<E>().c_str(), e.what());
    if (what.find(needle) == std::string_view::npos)
      return ::testing::AssertionFailure() << "message lacks \"" << needle << "\": " << what;
    return ::testing::AssertionSuccess();
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << "threw another type: " << e.what();
  }
  return ::testing::AssertionFailure() << "threw nothing";
}

/// Entries of /dev/shm and of the runtime's shared-memory directory (to prove nothing leaks).
std::size_t shm_entries(const Runtime& rt);

}  // namespace lagoon::testing
