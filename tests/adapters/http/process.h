#pragma once
// Runs the real txparticipant binary as a child process for tests. The child's stdout and
// stderr go to a file the test reads (log lines, error messages). The Child object owns the
// process: its destructor kills it (SIGKILL) and reaps it, so a failing assertion never leaves
// a process behind.
#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace txcoord::http_testing {

class Child {
 public:
  // Starts `argv[0]` with `argv` and this process's environment plus `extra_env`
  // ("NAME=value" entries), output to `log_path` (truncated).
  Child(const std::vector<std::string>& argv, std::string log_path,
        const std::vector<std::string>& extra_env = {});
  ~Child();
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  bool started() const { return pid_ > 0; }
  // The exit code once the process ended within `deadline`; nullopt if it is still running or
  // died from a signal (then `signaled()` says so).
  std::optional<int> WaitExit(std::chrono::milliseconds deadline);
  bool signaled() const { return signaled_; }
  void Signal(int sig);
  void Kill9();  // SIGKILL and reap
  // Everything the process wrote so far.
  std::string Output() const;
  // The port of the "listening" log line, once it appears within `deadline`; 0 otherwise.
  int WaitListening(std::chrono::milliseconds deadline) const;

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  bool signaled_ = false;
  int status_ = 0;
  std::string log_path_;
};

}  // namespace txcoord::http_testing
