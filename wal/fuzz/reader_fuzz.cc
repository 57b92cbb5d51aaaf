// libFuzzer target for the WAL record reader: any byte string, read as a segment image (last and
// not last) and as a checkpoint frame, must be classified without crashing, hanging or reading
// out of bounds. Build: -DTXC_BUILD_FUZZ=ON with CXX=clang++ (see docs/wal.md).
#include <cstddef>
#include <cstdint>

#include "frame.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace txcoord::wal;
  const char* p = reinterpret_cast<const char*>(data);
  std::size_t sum = 0;
  auto visit = [&](const DecodedRecord& rec) {
    sum += rec.body.size() + rec.lsn;
    return txcoord::Status::Ok();
  };
  for (bool last : {true, false}) {
    BufferScan scan = ScanBuffer(p, size, last, 1, visit);
    if (scan.good_end > size || scan.bad_offset > size) __builtin_trap();
    if (scan.outcome == BufferScan::Outcome::kTornTail && !last) __builtin_trap();
  }
  DecodedRecord rec;
  Decoded d = DecodeFrame(p, size, 0, &rec);
  if (d.result == FrameResult::kOk && d.frame_bytes > size) __builtin_trap();
  return sum == 0xdeadbeef ? 1 : 0;
}
