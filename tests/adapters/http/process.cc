#include "process.h"
#include "txcoord/testing/poll.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

namespace txcoord::http_testing {

Child::Child(const std::vector<std::string>& argv, std::string log_path,
             const std::vector<std::string>& extra_env)
    : log_path_(std::move(log_path)) {
  // Built before fork: the child only calls async-signal-safe functions.
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  std::vector<char*> env;
  for (char** e = environ; *e != nullptr; ++e) env.push_back(*e);
  for (const auto& e : extra_env) env.push_back(const_cast<char*>(e.c_str()));
  env.push_back(nullptr);
  const int fd = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  pid_ = fork();
  if (pid_ == 0) {
    dup2(fd, STDOUT_FILENO);
    dup2(fd, STDERR_FILENO);
    execve(args[0], args.data(), env.data());
    _exit(127);
  }
  close(fd);
}

Child::~Child() {
  Kill9();
}

std::optional<int> Child::WaitExit(std::chrono::milliseconds deadline) {
  if (pid_ <= 0) return std::nullopt;
  if (!reaped_ &&
      !txcoord::testing::Eventually([&] { return waitpid(pid_, &status_, WNOHANG) == pid_; },
                                    deadline, std::chrono::milliseconds(20))) {
    return std::nullopt;
  }
  if (!reaped_) {
    reaped_ = true;
    signaled_ = WIFSIGNALED(status_);
  }
  if (WIFEXITED(status_)) return WEXITSTATUS(status_);
  return std::nullopt;
}

void Child::Signal(int sig) {
  if (pid_ > 0 && !reaped_) kill(pid_, sig);
}

void Child::Kill9() {
  if (pid_ <= 0 || reaped_) return;
  kill(pid_, SIGKILL);
  if (waitpid(pid_, &status_, 0) == pid_) {
    reaped_ = true;
    signaled_ = WIFSIGNALED(status_);
  }
}

std::string Child::Output() const {
  std::ifstream in(log_path_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int Child::WaitListening(std::chrono::milliseconds deadline) const {
  static const std::regex kListening(R"re("msg":"listening","address":"[^"]*:([0-9]+)")re");
  int port = 0;
  txcoord::testing::Eventually(
      [&] {
        std::smatch m;
        const std::string out = Output();
        if (std::regex_search(out, m, kListening)) {
          port = std::stoi(m[1]);
          return true;
        }
        siginfo_t info{};
        // WNOWAIT: look without reaping, WaitExit() still gets the status.
        return reaped_ ||
               waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) != 0 ||
               info.si_pid != 0;  // exited early: port stays 0
      },
      deadline, std::chrono::milliseconds(20));
  return port;
}

}  // namespace txcoord::http_testing
