#pragma once
// Names the calling thread for the operating system (top -H, ps -L, perf, gdb): at most 15
// bytes are kept. Best effort: a failure changes nothing else. Thread-safe.
#include <string_view>
#include <thread>

namespace txcoord {

void NameThisThread(std::string_view name);
// Names `t` from the calling thread: set when this returns (no race with a reader of /proc).
void NameThread(std::thread& t, std::string_view name);

// NameThisThread once per thread: for threads a library creates and hands work to (Poco's
// connection threads), called at the start of each piece of work; later calls are a check of
// a thread_local flag.
void NameThisThreadOnce(std::string_view name);

}  // namespace txcoord
