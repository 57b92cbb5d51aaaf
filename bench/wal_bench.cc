// wal_bench: durable group-commit throughput and latency of txcoord::wal, against a raw baseline
// (one thread doing write + fdatasync of the same record size in the same directory, appending
// to a file; also printed: the same into a preallocated file), plus the replay rate. Scratch space:
// $TXC_BENCH_DIR (default /tmp). Seconds per run: $TXC_WAL_BENCH_SECONDS (default 2). The last line
// is the parseable summary.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "txcoord/wal/log.h"

namespace {

namespace fs = std::filesystem;
using SteadyClock = std::chrono::steady_clock;
constexpr std::size_t kRecordBytes = 200;

struct RunResult {
  double per_s = 0;
  double p50_us = 0;
  double p99_us = 0;
  std::uint64_t batches = 0;
  std::uint64_t ops = 0;
};

double Percentile(std::vector<double>& v, double q) {
  if (v.empty()) return 0;
  std::size_t i = static_cast<std::size_t>(q * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(i), v.end());
  return v[i];
}

double MicrosSince(SteadyClock::time_point t0) {
  return std::chrono::duration<double, std::micro>(SteadyClock::now() - t0).count();
}

// One thread, write + fdatasync per record. `preallocated`: into a posix_fallocate'd file (the
// WAL's own I/O pattern) instead of appending to a growing file.
RunResult RawFsync(const std::string& dir, double seconds, bool preallocated) {
  const std::string path = dir + (preallocated ? "/raw-prealloc.dat" : "/raw.dat");
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return {};
  if (preallocated && (::posix_fallocate(fd, 0, 64 << 20) != 0 || ::fsync(fd) != 0)) return {};
  off_t offset = 0;
  const std::string rec(kRecordBytes, 'r');
  std::vector<double> lat;
  const auto start = SteadyClock::now();
  const auto end = start + std::chrono::duration<double>(seconds);
  while (SteadyClock::now() < end) {
    const auto t0 = SteadyClock::now();
    if (::pwrite(fd, rec.data(), rec.size(), offset) != static_cast<ssize_t>(rec.size())) break;
    offset += static_cast<off_t>(rec.size());
    if (::fdatasync(fd) != 0) break;
    lat.push_back(MicrosSince(t0));
  }
  const double elapsed = MicrosSince(start) / 1e6;
  ::close(fd);
  RunResult r;
  r.ops = lat.size();
  r.per_s = static_cast<double>(lat.size()) / elapsed;
  r.p50_us = Percentile(lat, 0.50);
  r.p99_us = Percentile(lat, 0.99);
  return r;
}

RunResult Appenders(const std::string& dir, int writers, double seconds) {
  txcoord::wal::Options o;
  o.dir = dir;
  auto log = txcoord::wal::Log::Open(o, nullptr);
  if (!log.ok()) {
    std::fprintf(stderr, "wal_bench: open %s: %s\n", dir.c_str(), log.status().ToString().c_str());
    std::exit(1);
  }
  std::atomic<bool> stop{false};
  std::atomic<bool> failed{false};
  std::vector<std::vector<double>> lat(static_cast<std::size_t>(writers));
  std::vector<std::thread> threads;
  const auto start = SteadyClock::now();
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back([&, w] {
      const std::string body(kRecordBytes, static_cast<char>('a' + w % 26));
      auto& mine = lat[static_cast<std::size_t>(w)];
      while (!stop.load(std::memory_order_relaxed)) {
        const auto t0 = SteadyClock::now();
        if (!(*log)->Append(body).get().ok()) {
          failed = true;
          return;
        }
        mine.push_back(MicrosSince(t0));
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));  // the measured window
  stop = true;
  for (auto& t : threads) t.join();
  const double elapsed = MicrosSince(start) / 1e6;
  if (failed) {
    std::fprintf(stderr, "wal_bench: append failed: %s\n", (*log)->health().ToString().c_str());
    std::exit(1);
  }
  std::vector<double> all;
  for (auto& v : lat) all.insert(all.end(), v.begin(), v.end());
  RunResult r;
  r.ops = all.size();
  r.per_s = static_cast<double>(all.size()) / elapsed;
  r.p50_us = Percentile(all, 0.50);
  r.p99_us = Percentile(all, 0.99);
  r.batches = (*log)->stats().batches;
  return r;
}

// Fills a log with `records` records (pipelined async appends), then times a full replay.
void Replay(const std::string& dir, std::uint64_t records) {
  txcoord::wal::Options o;
  o.dir = dir;
  {
    auto log = txcoord::wal::Log::Open(o, nullptr);
    if (!log.ok()) return;
    const std::string body(kRecordBytes, 'y');
    for (std::uint64_t i = 0; i < records; i += 20000) {
      for (int k = 0; k < 19999; ++k)
        (*log)->AppendAsync(body, [](txcoord::Result<std::uint64_t>) {});
      if (!(*log)->Append(body).get().ok()) return;
    }
  }
  std::uint64_t seen = 0, bytes = 0;
  const auto t0 = SteadyClock::now();
  auto log = txcoord::wal::Log::Open(o, [&](const txcoord::wal::ReplayedRecord& r) {
    ++seen;
    bytes += r.body.size();
    return txcoord::Status::Ok();
  });
  const double secs = MicrosSince(t0) / 1e6;
  if (!log.ok()) return;
  std::printf("replay: records=%llu seconds=%.3f records_per_s=%.0f MB_per_s=%.0f\n",
              static_cast<unsigned long long>(seen), secs, static_cast<double>(seen) / secs,
              static_cast<double>(bytes) / secs / 1e6);
}

}  // namespace

int main() {
  const char* base_env = std::getenv("TXC_BENCH_DIR");
  const char* secs_env = std::getenv("TXC_WAL_BENCH_SECONDS");
  const double seconds = secs_env != nullptr ? std::atof(secs_env) : 2.0;
  const std::string base = std::string(base_env != nullptr ? base_env : "/tmp") + "/wal_bench-" +
                           std::to_string(::getpid());
  fs::create_directories(base);

  RunResult raw = RawFsync(base, seconds, false);
  const double raw_mean_us = raw.per_s > 0 ? 1e6 / raw.per_s : 0;
  std::printf(
      "raw: record_bytes=%zu fsync_per_s=%.0f fsync_mean_us=%.0f fsync_p50_us=%.0f "
      "fsync_p99_us=%.0f\n",
      kRecordBytes, raw.per_s, raw_mean_us, raw.p50_us, raw.p99_us);
  RunResult pre = RawFsync(base, seconds, true);
  std::printf(
      "raw_preallocated: fsync_per_s=%.0f fsync_p50_us=%.0f fsync_p99_us=%.0f "
      "(same I/O pattern as the WAL; informational)\n",
      pre.per_s, pre.p50_us, pre.p99_us);
  RunResult at64;
  for (int writers : {1, 16, 64, 256}) {
    RunResult r = Appenders(base + "/w" + std::to_string(writers), writers, seconds);
    std::printf(
        "writers=%d appends_per_s=%.0f p50_us=%.0f p99_us=%.0f batches=%llu "
        "records_per_batch=%.1f ratio_vs_raw=%.1f p99_vs_raw_fsync_p50=%.2f "
        "p99_vs_raw_fsync_mean=%.2f\n",
        writers, r.per_s, r.p50_us, r.p99_us, static_cast<unsigned long long>(r.batches),
        r.batches ? static_cast<double>(r.ops) / static_cast<double>(r.batches) : 0.0,
        r.per_s / raw.per_s, r.p99_us / raw.p50_us, r.p99_us / raw_mean_us);
    std::fflush(stdout);
    if (writers == 64) at64 = r;
    if (writers == 64 && pre.per_s > 0)
      std::printf("writers=64 ratio_vs_raw_preallocated=%.1f\n", r.per_s / pre.per_s);
  }
  Replay(base + "/replay", 1000000);
  std::error_code ec;
  fs::remove_all(base, ec);
  std::printf(
      "wal_bench: writers=64 appends_per_s=%.0f raw_fsync_per_s=%.0f ratio=%.1f p99_us=%.0f\n",
      at64.per_s, raw.per_s, at64.per_s / raw.per_s, at64.p99_us);
  return 0;
}
