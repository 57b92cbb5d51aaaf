#include "wal_cmds.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/wire_format_lite.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <set>
#include <sstream>
#include <vector>

#include "json_out.h"
#include "txcoord/coordinator/coordinator.pb.h"
#include "txcoord/wal/format.h"
#include "txcoord/wal/log.h"

namespace txcoord::txctl {
namespace {

namespace fs = std::filesystem;
namespace v1 = ::txcoord::coordinator::v1;

// CRC32C (Castagnoli), table-driven: the WAL's frame checksum (format.h).
std::uint32_t Crc32c(const char* data, std::size_t n, std::uint32_t crc = 0) {
  static const std::array<std::uint32_t, 256> table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  crc = ~crc;
  for (std::size_t i = 0; i < n; ++i)
    crc = table[(crc ^ static_cast<unsigned char>(data[i])) & 0xff] ^ (crc >> 8);
  return ~crc;
}

std::uint32_t Le32(const char* p) {
  std::uint32_t v;
  std::memcpy(&v, p, 4);
  return v;  // x86-64 / little-endian hosts only, like the WAL itself
}

// The wal.pb.Record envelope (wal/wal.proto), decoded by hand: its generated code is private
// to the wal library.
struct Envelope {
  std::uint32_t format_version = 0;
  std::uint64_t lsn = 0;
  std::uint32_t kind = 0;  // 1 entry, 2 checkpoint
  std::string body;
};

bool DecodeEnvelope(const std::string& payload, Envelope& e) {
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const std::uint8_t*>(payload.data()),
                                            static_cast<int>(payload.size()));
  while (std::uint32_t tag = in.ReadTag()) {
    std::uint64_t v = 0;
    switch (tag) {
      case (1 << 3) | 0:
        if (!in.ReadVarint64(&v)) return false;
        e.format_version = static_cast<std::uint32_t>(v);
        break;
      case (2 << 3) | 0:
        if (!in.ReadVarint64(&e.lsn)) return false;
        break;
      case (3 << 3) | 0:
        if (!in.ReadVarint64(&v)) return false;
        e.kind = static_cast<std::uint32_t>(v);
        break;
      case (4 << 3) | 2: {
        std::uint32_t len = 0;
        if (!in.ReadVarint32(&len) || !in.ReadString(&e.body, static_cast<int>(len))) return false;
        break;
      }
      default:
        if (!google::protobuf::internal::WireFormatLite::SkipField(&in, tag)) return false;
    }
  }
  return in.ConsumedEntireMessage();
}

struct DumpedRecord {
  std::string file;
  std::uint64_t offset = 0;
  Envelope env;
  std::string json;               // the decoded coordinator record/checkpoint as JSON
  std::string human;              // one-line text form
  std::vector<std::string> gids;  // the transaction(s) the record is about
};

struct BadFrame {
  std::string file;
  std::uint64_t offset = 0;
  std::string reason;
};

void DecodeBody(DumpedRecord& r) {
  google::protobuf::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;
  if (r.env.kind == 2) {
    v1::Checkpoint cp;
    if (!cp.ParseFromString(r.env.body)) {
      r.json = "null";
      r.human = "<undecodable checkpoint>";
      return;
    }
    (void)google::protobuf::util::MessageToJsonString(cp, &r.json, opts);
    // A gid may have several entries, or be ended (coordinator.proto, Checkpoint).
    std::set<std::string> live, mentioned;
    for (const auto& t : cp.transactions()) live.insert(t.begin().gid());
    mentioned = live;
    for (const auto& gid : cp.ended()) {
      live.erase(gid);
      mentioned.insert(gid);
    }
    for (const auto& t : cp.finished_heuristic()) mentioned.insert(t.begin().gid());
    for (const auto& t : cp.finished()) mentioned.insert(t.begin().gid());
    r.gids.assign(mentioned.begin(), mentioned.end());
    r.human = "checkpoint: " + std::to_string(live.size()) + " live transactions, " +
              std::to_string(cp.idempotency_size()) + " idempotency keys, " +
              std::to_string(cp.finished_size() + cp.finished_heuristic_size()) + " finished";
    return;
  }
  v1::Record rec;
  if (!rec.ParseFromString(r.env.body)) {
    r.json = "null";
    r.human = "<undecodable coordinator record>";
    return;
  }
  (void)google::protobuf::util::MessageToJsonString(rec, &r.json, opts);
  r.human = rec.ShortDebugString();
  switch (rec.kind_case()) {
    case v1::Record::kBegin:
      r.gids.push_back(rec.begin().gid());
      break;
    case v1::Record::kRegisterBranch:
      r.gids.push_back(rec.register_branch().gid());
      break;
    case v1::Record::kDecision:
      r.gids.push_back(rec.decision().gid());
      break;
    case v1::Record::kEnd:
      r.gids.push_back(rec.end().gid());
      break;
    case v1::Record::kSagaStep:
      r.gids.push_back(rec.saga_step().gid());
      break;
    default:
      break;
  }
}

// Reads the frames of one file until the zero-filled end; stops at the first bad frame.
void ReadFrames(const fs::path& path, std::vector<DumpedRecord>& out,
                std::optional<BadFrame>& bad) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  const std::string data = ss.str();
  const std::string file = path.filename().string();
  std::size_t off = 0;
  auto fail = [&](const std::string& why) { bad = BadFrame{file, off, why}; };
  while (off + wal::format::kHeaderBytes <= data.size()) {
    const char* h = data.data() + off;
    if (std::all_of(h, h + wal::format::kHeaderBytes, [](char c) { return c == 0; })) return;
    const std::uint32_t crc = Le32(h);
    const std::uint32_t len = Le32(h + 4);
    if (static_cast<std::uint8_t>(h[8]) != wal::format::kRecordType)
      return fail("unknown frame type " + std::to_string(static_cast<std::uint8_t>(h[8])));
    if (len == 0 || len > wal::format::kMaxPayloadBytes ||
        off + wal::format::kHeaderBytes + len > data.size())
      return fail("bad frame length " + std::to_string(len));
    const std::uint32_t actual = Crc32c(h + 8, 1 + len);
    if (wal::format::UnmaskCrc(crc) != actual) return fail("CRC mismatch");
    DumpedRecord r;
    r.file = file;
    r.offset = off;
    if (!DecodeEnvelope(std::string(h + wal::format::kHeaderBytes, len), r.env))
      return fail("frame payload is not a wal Record");
    DecodeBody(r);
    out.push_back(std::move(r));
    off += wal::format::kHeaderBytes + len;
  }
  if (off < data.size() && !std::all_of(data.begin() + static_cast<long>(off), data.end(),
                                        [](char c) { return c == 0; }))
    fail("truncated frame header");
}

bool CheckDir(const std::string& dir) {
  std::error_code ec;
  if (dir.empty() || !fs::is_directory(dir, ec)) {
    std::cerr << "txctl: no such WAL directory '" << dir << "'\n";
    return false;
  }
  return true;
}

// Checkpoint files first (newest last), then segments in LSN (= name) order.
std::vector<fs::path> WalFiles(const std::string& dir) {
  std::vector<fs::path> ckpts, segs;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    const std::string n = e.path().filename().string();
    if (n.rfind(wal::format::kCheckpointPrefix, 0) == 0 &&
        n.ends_with(wal::format::kCheckpointSuffix))
      ckpts.push_back(e.path());
    else if (n.ends_with(wal::format::kSegmentSuffix))
      segs.push_back(e.path());
  }
  std::sort(ckpts.begin(), ckpts.end());
  std::sort(segs.begin(), segs.end());
  ckpts.insert(ckpts.end(), segs.begin(), segs.end());
  return ckpts;
}

std::string KindName(std::uint32_t kind) {
  return kind == 1 ? "entry" : kind == 2 ? "checkpoint" : "unknown";
}

void PrintReport(const wal::VerifyReport& r, bool json, const std::string& extra_json,
                 const std::string& extra_text) {
  if (json) {
    std::cout << "{\"ok\":" << (r.ok ? "true" : "false") << ",\"records\":" << r.records;
    if (!r.ok)
      std::cout << ",\"bad_segment\":" << JsonString(r.bad_segment)
                << ",\"bad_offset\":" << r.bad_offset << ",\"reason\":" << JsonString(r.reason);
    std::cout << extra_json << "}\n";
    return;
  }
  std::cout << "records  " << r.records << '\n';
  if (r.ok) {
    std::cout << "status   ok\n";
  } else {
    std::cout << "status   CORRUPT\nsegment  " << r.bad_segment << "\noffset   " << r.bad_offset
              << "\nreason   " << r.reason << '\n';
  }
  std::cout << extra_text;
}

}  // namespace

int WalDump(const std::string& dir, bool json, const std::string& gid) {
  if (!CheckDir(dir)) return kExitUsage;
  std::vector<DumpedRecord> records;
  std::optional<BadFrame> bad;
  try {
    for (const fs::path& p : WalFiles(dir)) {
      ReadFrames(p, records, bad);
      if (bad) break;
    }
  } catch (const std::exception& e) {
    std::cerr << "txctl: cannot read " << dir << ": " << e.what() << '\n';
    return kExitUsage;
  }
  if (!gid.empty()) {
    std::erase_if(records, [&](const DumpedRecord& r) {
      return std::find(r.gids.begin(), r.gids.end(), gid) == r.gids.end();
    });
  }
  if (json) {
    std::cout << "{\"records\":[";
    for (std::size_t i = 0; i < records.size(); ++i) {
      const auto& r = records[i];
      std::cout << (i ? "," : "") << "\n{\"file\":" << JsonString(r.file)
                << ",\"offset\":" << r.offset << ",\"lsn\":" << r.env.lsn
                << ",\"kind\":" << JsonString(KindName(r.env.kind)) << ",\"record\":" << r.json
                << "}";
    }
    std::cout << "],\n\"bad\":";
    if (bad)
      std::cout << "{\"file\":" << JsonString(bad->file) << ",\"offset\":" << bad->offset
                << ",\"reason\":" << JsonString(bad->reason) << "}";
    else
      std::cout << "null";
    std::cout << "}\n";
  } else {
    for (const auto& r : records)
      std::cout << "lsn " << r.env.lsn << "  " << r.file << ":" << r.offset << "  "
                << KindName(r.env.kind) << "  " << r.human << '\n';
    if (bad)
      std::cout << "BAD FRAME " << bad->file << ":" << bad->offset << "  " << bad->reason
                << "  (dump stops here; see txctl wal verify / repair)\n";
  }
  return bad ? kExitProblems : kExitOk;
}

int WalVerify(const std::string& dir, bool json) {
  if (!CheckDir(dir)) return kExitUsage;
  auto r = wal::Verify(dir);
  if (!r.ok()) {
    std::cerr << "txctl: wal verify: " << r.status().ToString() << '\n';
    return kExitUsage;
  }
  PrintReport(*r, json, "", "");
  return r->ok ? kExitOk : kExitProblems;
}

int WalRepair(const std::string& dir, bool json) {
  if (!CheckDir(dir)) return kExitUsage;
  std::set<std::string> before;
  for (const auto& e : fs::directory_iterator(dir)) before.insert(e.path().filename().string());
  auto r = wal::Repair(dir);
  if (!r.ok()) {
    std::cerr << "txctl: wal repair: " << r.status().ToString() << '\n';
    return kExitUsage;
  }
  std::string saved;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string n = e.path().filename().string();
    if (n.rfind("repair-", 0) == 0 && !before.count(n)) saved = e.path().string();
  }
  const std::string extra_json = ",\"repaired\":" + std::string(r->ok ? "false" : "true") +
                                 ",\"saved_to\":" + JsonString(saved);
  const std::string extra_text =
      r->ok ? "nothing to repair\n"
            : "repaired: log truncated there; cut bytes kept in " + saved + "\n";
  PrintReport(*r, json, extra_json, extra_text);
  // A repair that cut something succeeded: the operator asked for it. 0 either way.
  return kExitOk;
}

}  // namespace txcoord::txctl
