#pragma once
// A throw-away redis-server of the test's own (a child process on a free loopback port, data
// and log in a fresh temporary directory), for settings the shared server must not have: no
// AOF, cluster mode, a renamed command. Stopped (SIGTERM, waited for) and its directory removed
// when it goes out of scope.
#include <hiredis/hiredis.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "txcoord/testing/net.h"
#include "txcoord/testing/poll.h"

extern char** environ;

namespace txcoord::redis::testing {

class ThrowawayRedis {
 public:
  // A port for a server started later (0 if none was found).
  static int FreePort() { return ::txcoord::testing::FreeLoopbackPort(); }

  // Starts redis-server with `extra` settings (e.g. {"--cluster-enabled", "yes"}) on `port`
  // (0: a free one) and waits until it answers; ok() says whether it did.
  explicit ThrowawayRedis(const std::vector<std::string>& extra, int port = 0)
      : port_(port != 0 ? port : FreePort()) {
    char dir[] = "/tmp/txc-redis-XXXXXX";
    if (port_ == 0 || ::mkdtemp(dir) == nullptr) return;
    dir_ = dir;
    std::vector<std::string> args = {
        "redis-server", "--port",    std::to_string(port_), "--bind", "127.0.0.1",
        "--save",       "",          "--appendonly",        "no",     "--daemonize",
        "no",           "--logfile", dir_ + "/log",         "--dir",  dir_};
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (::posix_spawnp(&child_, "redis-server", nullptr, nullptr, argv.data(), environ) != 0) {
      child_ = 0;
      return;
    }
    ::txcoord::testing::Eventually(  // the server is starting
        [&] {
          conn_.reset(redisConnect("127.0.0.1", port_));
          return conn_ && !conn_->err;
        },
        std::chrono::seconds(10), std::chrono::milliseconds(20));
  }
  ~ThrowawayRedis() {
    conn_.reset();
    if (child_ != 0) {
      ::kill(child_, SIGTERM);
      int status = 0;
      ::waitpid(child_, &status, 0);
    }
    std::error_code ignored;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ignored);
  }
  ThrowawayRedis(const ThrowawayRedis&) = delete;
  ThrowawayRedis& operator=(const ThrowawayRedis&) = delete;

  bool ok() const { return conn_ && !conn_->err; }
  int port() const { return port_; }
  std::string url() const { return "redis://127.0.0.1:" + std::to_string(port_); }
  redisContext* conn() { return conn_.get(); }

 private:
  int port_ = 0;
  std::string dir_;
  pid_t child_ = 0;
  std::unique_ptr<redisContext, decltype(&redisFree)> conn_{nullptr, &redisFree};
};

}  // namespace txcoord::redis::testing
