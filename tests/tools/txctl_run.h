#pragma once
// Runs the txctl binary (TXC_TXCTL_PATH) as a child process and parses its --json output.
#include <Poco/JSON/Object.h>
#include <Poco/JSON/Parser.h>
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

namespace txcoord::txctl_test {

struct TxctlRun {
  int exit_code = -1;
  std::string out;
  std::string err;
  // The stdout as a JSON object; nullptr when it is not one.
  Poco::JSON::Object::Ptr Json() const {
    try {
      return Poco::JSON::Parser().parse(out).extract<Poco::JSON::Object::Ptr>();
    } catch (const std::exception&) {
      return nullptr;
    }
  }
};

// `args` is appended to the command line as is (the tests pass only safe words and paths).
inline TxctlRun RunTxctl(const std::string& args, const std::string& err_file) {
  const std::string cmd = std::string(TXC_TXCTL_PATH) + " " + args + " 2>" + err_file;
  TxctlRun r;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  const int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream f(err_file);
  std::stringstream ss;
  ss << f.rdbuf();
  r.err = ss.str();
  return r;
}

}  // namespace txcoord::txctl_test
