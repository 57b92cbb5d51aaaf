#pragma once
// Helpers of txbench: child processes, a keep-alive HTTP client, /proc figures, latency stats.
// Nothing throws; failures come back as false / status -1 with a message.
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace Poco::Net {
class HTTPClientSession;
}

namespace txcoord::bench {

// A child process `argv[0] argv[1..]` with stdout/stderr appended to log_path and `env` added.
// The destructor SIGKILLs and reaps it.
class Child {
 public:
  Child() = default;
  ~Child();
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  bool Start(const std::vector<std::string>& argv, const std::string& log_path);
  void Kill();
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
};

// One persistent HTTP/1.1 connection to 127.0.0.1:port (reconnects after an error). One thread.
class HttpClient {
 public:
  explicit HttpClient(std::uint16_t port);
  ~HttpClient();
  // The status (-1: no answer) and body of one request; a non-empty `idempotency_key` is sent
  // as the Idempotency-Key header.
  int Request(const std::string& method, const std::string& path, const std::string& body,
              std::string& out, const std::string& idempotency_key = "");

 private:
  std::uint16_t port_;
  std::unique_ptr<Poco::Net::HTTPClientSession> session_;
};

// Polls GET path until 200 or the deadline.
bool WaitHttp(std::uint16_t port, const std::string& path, std::chrono::milliseconds deadline);
std::uint16_t FreePort();
// utime+stime of pid in seconds; resident set size in bytes (-1 when unreadable).
double CpuSeconds(pid_t pid);
// CPU seconds of `root` and its live descendants, each with its reaped children's (a server
// with a process per connection, as PostgreSQL: a backend that exited counts in its parent).
// -1 when root is gone.
double TreeCpuSeconds(pid_t root);
// Voluntary and involuntary context switches of all of pid's threads alive now; -1 if gone.
long long ContextSwitches(pid_t pid);
double SelfCpuSeconds();  // this process, all threads (getrusage)
// The whole machine's CPU seconds since boot (/proc/stat): idle = idle + iowait, busy = all but
// those and steal (time the hypervisor gave to other guests).
struct MachineCpu {
  double busy = 0, idle = 0, total = 0;
};
MachineCpu ReadMachineCpu();
pid_t PidFromFile(const std::string& path);  // the number on a pid file's first line; -1 if none
long long RssBytes(pid_t pid);

struct LatencyStats {
  double p50_ms = 0, p99_ms = 0, max_ms = 0;
};
LatencyStats Summarize(std::vector<double>& ms);  // sorts ms

}  // namespace txcoord::bench
