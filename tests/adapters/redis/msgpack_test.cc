// The msgpack subset shared with the scripts' cmsgpack (adapters/redis/src/msgpack.h): every
// header size, binary content, and malformed input refused.
#include "msgpack.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace txcoord::redis::internal {
namespace {

std::string Bytes(std::initializer_list<int> bytes) {
  std::string s;
  for (int b : bytes) s.push_back(static_cast<char>(b));
  return s;
}

TEST(MsgpackTest, HeadersAreTheOnesCmsgpackWrites) {
  EXPECT_EQ(PackStrings({}), Bytes({0x90}));
  EXPECT_EQ(PackStrings({"ab"}), Bytes({0x91, 0xa2, 'a', 'b'}));
  EXPECT_EQ(PackStrings({std::string(31, 'x')}).substr(0, 2), Bytes({0x91, 0xbf}));
  EXPECT_EQ(PackStrings({std::string(32, 'x')}).substr(0, 3), Bytes({0x91, 0xd9, 32}));
  EXPECT_EQ(PackStrings({std::string(256, 'x')}).substr(0, 4), Bytes({0x91, 0xda, 1, 0}));
  EXPECT_EQ(PackStrings({std::string(65536, 'x')}).substr(0, 6), Bytes({0x91, 0xdb, 0, 1, 0, 0}));
  EXPECT_EQ(PackStrings(std::vector<std::string>(16, "")).substr(0, 4), Bytes({0xdc, 0, 16, 0xa0}));
  std::string big;
  PackArrayHeader(70000, big);
  EXPECT_EQ(big, Bytes({0xdd, 0, 1, 0x11, 0x70}));
}

TEST(MsgpackTest, RoundTripsEverySize) {
  for (const std::size_t n : {0, 1, 15, 16, 300}) {
    std::vector<std::string> items;
    for (std::size_t i = 0; i < n; ++i) {
      items.push_back(std::string(i * 97 % 70000, static_cast<char>(i)) + std::string("\0}{", 3));
    }
    Result<std::vector<std::string>> back = UnpackStrings(PackStrings(items));
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, items) << n;
  }
}

TEST(MsgpackTest, MalformedInputIsInternal) {
  const std::string good = PackStrings({"key", std::string(40, 'k')});
  for (std::size_t cut = 0; cut < good.size(); ++cut) {
    EXPECT_EQ(UnpackStrings(good.substr(0, cut)).status().code(), Code::kInternal) << cut;
  }
  EXPECT_EQ(UnpackStrings(good + "x").status().code(), Code::kInternal);  // trailing bytes
  EXPECT_EQ(UnpackStrings(Bytes({0x81, 0xa1, 'k', 0xa1, 'v'})).status().code(),
            Code::kInternal);                                                      // a map
  EXPECT_EQ(UnpackStrings(Bytes({0x91, 0x05})).status().code(), Code::kInternal);  // an int
  EXPECT_EQ(UnpackStrings(Bytes({0xdd, 0xff, 0xff, 0xff, 0xff})).status().code(),
            Code::kInternal);  // a count the input cannot hold
}

}  // namespace
}  // namespace txcoord::redis::internal
