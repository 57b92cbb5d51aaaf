#include "msgpack.h"

#include <cstdint>

namespace txcoord::redis::internal {
namespace {

void AppendBE(std::uint64_t v, int bytes, std::string& out) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// Reads a big-endian unsigned integer of `n` bytes at `at` (advanced); false if out of bounds.
bool ReadBE(std::string_view s, std::size_t& at, int n, std::size_t& out) {
  if (s.size() - at < static_cast<std::size_t>(n)) return false;
  out = 0;
  for (int i = 0; i < n; ++i) out = (out << 8) | static_cast<unsigned char>(s[at++]);
  return true;
}

}  // namespace

void PackArrayHeader(std::size_t n, std::string& out) {
  if (n <= 15) {
    out.push_back(static_cast<char>(0x90 | n));
  } else if (n <= 0xffff) {
    out.push_back(static_cast<char>(0xdc));
    AppendBE(n, 2, out);
  } else {
    out.push_back(static_cast<char>(0xdd));
    AppendBE(n, 4, out);
  }
}

void PackString(std::string_view s, std::string& out) {
  const std::size_t n = s.size();
  if (n < 32) {
    out.push_back(static_cast<char>(0xa0 | n));
  } else if (n <= 0xff) {
    out.push_back(static_cast<char>(0xd9));
    AppendBE(n, 1, out);
  } else if (n <= 0xffff) {
    out.push_back(static_cast<char>(0xda));
    AppendBE(n, 2, out);
  } else {
    out.push_back(static_cast<char>(0xdb));
    AppendBE(n, 4, out);
  }
  out.append(s);
}

std::string PackStrings(const std::vector<std::string>& items) {
  std::string out;
  PackArrayHeader(items.size(), out);
  for (const std::string& s : items) PackString(s, out);
  return out;
}

Result<std::vector<std::string>> UnpackStrings(std::string_view packed) {
  const auto bad = [] { return Internal("not a msgpack array of strings"); };
  std::size_t at = 0, count = 0;
  if (packed.empty()) return bad();
  const auto head = static_cast<unsigned char>(packed[at++]);
  if ((head & 0xf0) == 0x90) {
    count = head & 0x0f;
  } else if ((head != 0xdc && head != 0xdd) || !ReadBE(packed, at, head == 0xdc ? 2 : 4, count)) {
    return bad();
  }
  std::vector<std::string> items;
  for (std::size_t i = 0; i < count; ++i) {
    if (at >= packed.size()) return bad();
    const auto tag = static_cast<unsigned char>(packed[at++]);
    std::size_t len = 0;
    if ((tag & 0xe0) == 0xa0) {
      len = tag & 0x1f;
    } else if (tag < 0xd9 || tag > 0xdb || !ReadBE(packed, at, 1 << (tag - 0xd9), len)) {
      return bad();
    }
    if (packed.size() - at < len) return bad();
    items.emplace_back(packed.substr(at, len));
    at += len;
  }
  if (at != packed.size()) return bad();
  return items;
}

}  // namespace txcoord::redis::internal
