#pragma once
// CRC32C (Castagnoli). Uses SSE4.2 crc32 instructions when the CPU has them (checked once at
// runtime), a table otherwise. Thread-safe; pure functions.
#include <cstddef>
#include <cstdint>

namespace txcoord::wal::crc32c {

// Extends `crc` (the CRC of earlier bytes, 0 for none) with data[0..n).
std::uint32_t Extend(std::uint32_t crc, const void* data, std::size_t n);
inline std::uint32_t Value(const void* data, std::size_t n) {
  return Extend(0, data, n);
}

// The two implementations, for tests that check they agree.
std::uint32_t ExtendTable(std::uint32_t crc, const void* data, std::size_t n);
std::uint32_t ExtendHardware(std::uint32_t crc, const void* data, std::size_t n);
bool HardwareAvailable();

}  // namespace txcoord::wal::crc32c
