// Helpers shared by crdt/text.cpp and crdt/text_codec.cpp: limits and UTF-8 stepping over
// text already known to be well-formed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace crdt::internal {

// Ids per Text, all origins together (keeps positions, counters and the per-id index, 4
// bytes each, far inside 32 bits and bounds what a snapshot can make us allocate).
inline constexpr uint64_t kMaxTextIds = uint64_t{1} << 27;
// Longest run: splitting a run re-points the index entries of its right part, so a bounded
// run keeps every split O(kMaxRun).
inline constexpr uint32_t kMaxRun = 512;

inline uint64_t CountCodePoints(std::string_view s) {
  uint64_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

// Bytes taken by `count` code points of well-formed UTF-8 starting at byte `from`.
inline uint32_t Utf8Bytes(std::string_view s, size_t from, uint32_t count) {
  size_t i = from;
  while (count-- > 0) {
    const auto c = static_cast<unsigned char>(s[i]);
    i += c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
  }
  return static_cast<uint32_t>(i - from);
}

}  // namespace crdt::internal
