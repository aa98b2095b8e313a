#include "crdt/status.h"

namespace crdt {

const char* CodeName(Code code) {
  switch (code) {
    case Code::kOk: return "ok";
    case Code::kInvalidArgument: return "invalid-argument";
    case Code::kNotFound: return "not-found";
    case Code::kAlreadyExists: return "already-exists";
    case Code::kFailedPrecondition: return "failed-precondition";
    case Code::kAborted: return "aborted";
    case Code::kOutOfRange: return "out-of-range";
    case Code::kResourceExhausted: return "resource-exhausted";
    case Code::kUnauthenticated: return "unauthenticated";
    case Code::kUnavailable: return "unavailable";
    case Code::kDeadlineExceeded: return "deadline-exceeded";
    case Code::kGone: return "gone";
    case Code::kInternal: return "internal";
  }
  return "unknown";
}

std::string Status::ToString() const {
  if (ok()) return "ok";
  return std::string(CodeName(code_)) + " (" + reason_ + "): " + message_;
}

}  // namespace crdt
