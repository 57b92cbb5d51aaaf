#include "txcoord/core/thread_name.h"

#include <gtest/gtest.h>
#include <pthread.h>

#include <mutex>
#include <string>
#include <thread>

namespace txcoord {
namespace {

std::string NameOfThisThread() {
  char buf[32] = {};
  ::pthread_getname_np(::pthread_self(), buf, sizeof buf);
  return buf;
}

TEST(ThreadName, KeepsTheFirstFifteenBytes) {
  std::string seen;
  std::thread t([&] {
    NameThisThread("txc-a-very-long-name");
    seen = NameOfThisThread();
  });
  t.join();
  EXPECT_EQ(seen, "txc-a-very-long");
}

TEST(ThreadName, AnotherThreadIsNamedWhenTheCallReturns) {
  std::mutex mu;
  mu.lock();
  std::thread t([&] { std::lock_guard<std::mutex> wait(mu); });
  NameThread(t, "txc-from-outside");
  char buf[32] = {};
  ::pthread_getname_np(t.native_handle(), buf, sizeof buf);
  mu.unlock();
  t.join();
  EXPECT_STREQ(buf, "txc-from-outsid");
}

TEST(ThreadName, OnceNamesAThreadOnlyTheFirstTime) {
  std::string first, second;
  std::thread t([&] {
    NameThisThreadOnce("txc-first");
    first = NameOfThisThread();
    NameThisThreadOnce("txc-second");
    second = NameOfThisThread();
  });
  t.join();
  EXPECT_EQ(first, "txc-first");
  EXPECT_EQ(second, "txc-first");
}

}  // namespace
}  // namespace txcoord
