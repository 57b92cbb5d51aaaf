#pragma once
// Internal: the subset of MessagePack the Lua scripts exchange with C++ through cmsgpack —
// arrays of strings, and arrays of such arrays. Encoded the way cmsgpack.pack encodes them
// (fixstr / str8 / str16 / str32, fixarray / array16 / array32), so a blob packed here is
// byte for byte what the script would have packed. Pure functions; thread-safe.
#include <string>
#include <string_view>
#include <vector>

#include "txcoord/core/status.h"

namespace txcoord::redis::internal {

// Appends the header of an array of `n` elements to `out`.
void PackArrayHeader(std::size_t n, std::string& out);
// Appends `s` as a MessagePack string (raw bytes, any content) to `out`.
void PackString(std::string_view s, std::string& out);
// An array of strings, packed.
std::string PackStrings(const std::vector<std::string>& items);

// Decodes an array of strings (anything else, trailing bytes included → kInternal).
Result<std::vector<std::string>> UnpackStrings(std::string_view packed);

}  // namespace txcoord::redis::internal
