// UTF-8 helpers: well-formedness (RFC 3629: no overlongs, no surrogates, <= U+10FFFF).
#pragma once

#include <cstddef>
#include <string_view>

namespace crdt {

// Length in bytes of the well-formed UTF-8 sequence starting at s[i]; 0 when it is not.
size_t Utf8SequenceLength(std::string_view s, size_t i);
bool IsValidUtf8(std::string_view s);

}  // namespace crdt
