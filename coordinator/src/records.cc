#include "records.h"

#include <cstdio>

namespace txcoord::coordinator::internal {
namespace {

class Fnv {
 public:
  void Add(std::string_view s) {
    for (unsigned char c : s) {
      h_ ^= c;
      h_ *= 1099511628211ull;
    }
    h_ ^= 0xff;  // field separator that no byte of a field can fake
    h_ *= 1099511628211ull;
  }
  std::string Hex() const {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h_));
    return buf;
  }

 private:
  std::uint64_t h_ = 14695981039346656037ull;
};

}  // namespace

std::int64_t ToUnixMs(Clock::WallTime t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

Clock::WallTime FromUnixMs(std::int64_t ms) {
  return Clock::WallTime(
      std::chrono::duration_cast<Clock::WallTime::duration>(std::chrono::milliseconds(ms)));
}

std::string Serialize(const google::protobuf::MessageLite& m) {
  std::string out;
  m.SerializeToString(&out);
  return out;
}

v1::Branch ToProto(const BranchRequest& b) {
  v1::Branch p;
  p.set_participant(b.participant);
  p.set_action(b.action);
  p.set_branch(b.branch);
  for (const auto& [k, v] : b.payload) (*p.mutable_payload())[k] = v;
  return p;
}

std::string HashRequest(const TxnRequest& r) {
  Fnv f;
  f.Add("2pc");
  f.Add(r.gid);
  f.Add(r.timeout ? std::to_string(r.timeout->count()) : "");
  for (const auto& b : r.branches) {
    f.Add(b.participant);
    f.Add(b.action);
    f.Add(b.branch);
    f.Add(std::to_string(b.payload.size()));
    for (const auto& [k, v] : b.payload) {
      f.Add(k);
      f.Add(v);
    }
  }
  return f.Hex();
}

std::string HashRequest(const SagaRequest& r) {
  Fnv f;
  f.Add("saga");
  f.Add(r.gid);
  f.Add(r.timeout ? std::to_string(r.timeout->count()) : "");
  auto add_payload = [&](const participant::Payload& p) {
    f.Add(std::to_string(p.size()));
    for (const auto& [k, v] : p) {
      f.Add(k);
      f.Add(v);
    }
  };
  for (const auto& s : r.steps) {
    f.Add(s.participant);
    f.Add(s.action);
    f.Add(s.branch);
    f.Add(std::to_string(s.group));
    add_payload(s.payload);
    f.Add(s.compensation_action);
    add_payload(s.compensation_payload);
  }
  return f.Hex();
}

std::string HashRequest(const OpenRequest& r) {
  Fnv f;
  f.Add("open");
  f.Add(r.gid);
  f.Add(r.timeout ? std::to_string(r.timeout->count()) : "");
  return f.Hex();
}

}  // namespace txcoord::coordinator::internal
