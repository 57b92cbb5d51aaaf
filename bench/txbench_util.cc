#include "txbench_util.h"

#include <Poco/Exception.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/StreamCopier.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>

namespace txcoord::bench {

using namespace std::chrono_literals;

Child::~Child() {
  Kill();
}

bool Child::Start(const std::vector<std::string>& argv, const std::string& log_path) {
  Kill();
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) return false;
  if (pid == 0) {  // child: only async-signal-safe calls until exec
    const int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  pid_ = pid;
  return true;
}

void Child::Kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

HttpClient::HttpClient(std::uint16_t port) : port_(port) {}
HttpClient::~HttpClient() = default;

int HttpClient::Request(const std::string& method, const std::string& path, const std::string& body,
                        std::string& out, const std::string& idempotency_key) {
  out.clear();
  try {
    if (!session_) {
      session_ = std::make_unique<Poco::Net::HTTPClientSession>("127.0.0.1", port_);
      session_->setKeepAlive(true);
      session_->setTimeout(Poco::Timespan(30, 0));
    }
    Poco::Net::HTTPRequest req(method, path, Poco::Net::HTTPMessage::HTTP_1_1);
    req.setKeepAlive(true);
    if (!idempotency_key.empty()) req.set("Idempotency-Key", idempotency_key);
    if (method == "POST") {
      req.setContentType("application/json");
      req.setContentLength64(static_cast<Poco::Int64>(body.size()));
    }
    session_->sendRequest(req) << body;
    Poco::Net::HTTPResponse resp;
    std::istream& in = session_->receiveResponse(resp);
    Poco::StreamCopier::copyToString(in, out);
    return static_cast<int>(resp.getStatus());
  } catch (const Poco::Exception& e) {
    out = e.displayText();
  } catch (const std::exception& e) {
    out = e.what();
  }
  session_.reset();
  return -1;
}

bool WaitHttp(std::uint16_t port, const std::string& path, std::chrono::milliseconds deadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  HttpClient c(port);
  std::string body;
  while (std::chrono::steady_clock::now() < until) {
    if (c.Request("GET", path, "", body) == 200) return true;
    std::this_thread::sleep_for(20ms);
  }
  return false;
}

std::uint16_t FreePort() {
  try {
    Poco::Net::ServerSocket probe(Poco::Net::SocketAddress("127.0.0.1", 0));
    return probe.address().port();  // released when `probe` closes
  } catch (const Poco::Exception&) {
    return 0;
  }
}

namespace {

// The CPU fields of /proc/<pid>/stat, in clock ticks; nullopt when the process is gone.
struct ProcStat {
  pid_t ppid = 0;
  unsigned long long utime = 0, stime = 0, cutime = 0, cstime = 0;
};

std::optional<ProcStat> ReadProcStat(const std::string& pid) {
  std::ifstream in("/proc/" + pid + "/stat");
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto paren = all.rfind(')');
  if (paren == std::string::npos || paren + 2 > all.size()) return std::nullopt;
  std::istringstream rest(all.substr(paren + 2));
  std::string field;
  ProcStat st;
  for (int i = 3; i <= 17 && rest >> field; ++i) {  // fields 3.. after "pid (comm)"
    const unsigned long long v = std::strtoull(field.c_str(), nullptr, 10);
    if (i == 4) st.ppid = static_cast<pid_t>(v);
    if (i == 14) st.utime = v;
    if (i == 15) st.stime = v;
    if (i == 16) st.cutime = v;
    if (i == 17) st.cstime = v;
  }
  return st;
}

double Ticks(unsigned long long t) {
  return static_cast<double>(t) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

}  // namespace

double CpuSeconds(pid_t pid) {
  const auto st = ReadProcStat(std::to_string(pid));
  return st ? Ticks(st->utime + st->stime) : -1;
}

double TreeCpuSeconds(pid_t root) {
  std::map<pid_t, std::vector<pid_t>> children;
  std::map<pid_t, unsigned long long> ticks;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    const auto st = ReadProcStat(name);
    if (!st) continue;
    const pid_t pid = static_cast<pid_t>(std::stol(name));
    children[st->ppid].push_back(pid);
    ticks[pid] = st->utime + st->stime + st->cutime + st->cstime;
  }
  if (!ticks.contains(root)) return -1;
  unsigned long long sum = 0;
  std::vector<pid_t> todo = {root};
  while (!todo.empty()) {
    const pid_t pid = todo.back();
    todo.pop_back();
    sum += ticks[pid];
    for (pid_t child : children[pid]) todo.push_back(child);
  }
  return Ticks(sum);
}

long long ContextSwitches(pid_t pid) {
  long long n = 0;
  std::error_code ec;
  const std::string tasks = "/proc/" + std::to_string(pid) + "/task";
  for (const auto& task : std::filesystem::directory_iterator(tasks, ec)) {
    std::ifstream in(task.path() / "status");
    for (std::string line; std::getline(in, line);) {
      if (line.find("ctxt_switches:") != std::string::npos) {
        n += std::atoll(line.c_str() + line.find(':') + 1);
      }
    }
  }
  return ec ? -1 : n;
}

double SelfCpuSeconds() {
  struct rusage ru {};
  ::getrusage(RUSAGE_SELF, &ru);
  const auto secs = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
  };
  return secs(ru.ru_utime) + secs(ru.ru_stime);
}

MachineCpu ReadMachineCpu() {
  std::ifstream in("/proc/stat");
  std::string cpu;
  unsigned long long v[8] = {};  // user nice system idle iowait irq softirq steal
  in >> cpu;
  for (auto& x : v) in >> x;
  MachineCpu m;
  for (int i = 0; i < 8; ++i) {
    m.total += Ticks(v[i]);
    if (i == 3 || i == 4) {
      m.idle += Ticks(v[i]);
    } else if (i != 7) {  // steal: the hypervisor ran something else
      m.busy += Ticks(v[i]);
    }
  }
  return m;
}

pid_t PidFromFile(const std::string& path) {
  std::ifstream in(path);
  long pid = -1;
  if (!(in >> pid) || pid <= 0) return -1;
  return static_cast<pid_t>(pid);
}

long long RssBytes(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/statm");
  long long size = 0, resident = -1;
  if (!(in >> size >> resident)) return -1;
  return resident * ::sysconf(_SC_PAGESIZE);
}

LatencyStats Summarize(std::vector<double>& ms) {
  LatencyStats s;
  if (ms.empty()) return s;
  std::sort(ms.begin(), ms.end());
  const auto at = [&](double q) {
    return ms[std::min(ms.size() - 1,
                       static_cast<std::size_t>(q * static_cast<double>(ms.size())))];
  };
  s.p50_ms = at(0.50);
  s.p99_ms = at(0.99);
  s.max_ms = ms.back();
  return s;
}

}  // namespace txcoord::bench
