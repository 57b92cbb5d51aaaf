#pragma once
// Helpers for the WAL tests: a unique scratch directory per test, replay into vectors, and raw
// byte access to segment files (to simulate torn writes and corruption).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "txcoord/wal/log.h"

namespace txcoord::wal::testing {

namespace fs = std::filesystem;

// A fresh directory named after the running test; removed when the test ends.
class ScratchDir {
 public:
  ScratchDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = std::string(info->test_suite_name()) + "." + info->name();
    std::replace(name.begin(), name.end(), '/', '_');
    path_ = (fs::temp_directory_path() / ("txc-wal-" + name + "-" + std::to_string(::getpid())))
                .string();
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~ScratchDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct Replayed {
  std::vector<std::pair<Lsn, std::string>> entries;
  std::string checkpoint;  // body of the checkpoint replayed, if any
  Lsn checkpoint_lsn = 0;
};

inline Options SmallOptions(const std::string& dir, std::uint64_t segment_bytes = 64 << 10) {
  Options o;
  o.dir = dir;
  o.segment_bytes = segment_bytes;
  return o;
}

// Opens the log, collecting everything replayed into *out.
inline Result<std::unique_ptr<Log>> OpenCollect(const Options& o, Replayed* out) {
  *out = Replayed{};
  return Log::Open(o, [out](const ReplayedRecord& r) -> Status {
    if (r.kind == RecordKind::kCheckpoint) {
      out->checkpoint.assign(r.body);
      out->checkpoint_lsn = r.lsn;
    } else {
      out->entries.emplace_back(r.lsn, std::string(r.body));
    }
    return Status::Ok();
  });
}

inline std::vector<std::string> SegmentNames(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string n = e.path().filename().string();
    if (n.size() > 4 && n.substr(n.size() - 4) == ".wal") names.push_back(n);
  }
  std::sort(names.begin(), names.end());
  return names;
}

inline std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline void WriteBytes(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

// End of the non-zero data in a segment image.
inline std::size_t DataEnd(const std::string& image) {
  std::size_t end = image.size();
  while (end > 0 && image[end - 1] == 0) --end;
  return end;
}

// Appends `n` records "<prefix><i>" (i from 1) and waits for each; returns false on error.
inline ::testing::AssertionResult AppendN(Log& log, int n, const std::string& prefix = "rec-") {
  for (int i = 1; i <= n; ++i) {
    Result<Lsn> r = log.Append(prefix + std::to_string(i)).get();
    if (!r.ok()) return ::testing::AssertionFailure() << "append " << i << ": " << r.status();
  }
  return ::testing::AssertionSuccess();
}

}  // namespace txcoord::wal::testing
