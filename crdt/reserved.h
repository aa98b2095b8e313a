// Top-level document fields that only the server assigns: no client write may set them
// (a whole document, a merge patch, a conflict resolution or a crdt operation's path).
#pragma once

#include <string>
#include <string_view>

#include "crdt/status.h"

namespace crdt {

inline constexpr std::string_view kServerAssignedFields[] = {"_hlc", "_origin", "_version", "_context", "_dot"};

inline bool IsServerAssignedField(std::string_view name) {
  for (std::string_view f : kServerAssignedFields) {
    if (f == name) return true;
  }
  return false;
}

inline Status ServerAssignedField(std::string_view name) {
  return Status::InvalidArgument("server-assigned-field",
                                 "field '" + std::string(name) + "' is assigned by the server; remove it");
}

}  // namespace crdt
