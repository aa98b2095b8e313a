// Status and Result<T>: expected failures as values.
//
// crdt/ is the bottom layer, so the error vocabulary that every module shares lives here.
// A Status carries a Code (coarse class, mapped once to an HTTP status in server/), a
// stable machine-readable reason slug (becomes the problem+json `type`), and a message for
// humans that names the key or region involved. No exception crosses a module boundary.
//
// Thread-safety: values; copy freely.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>

namespace crdt {

enum class Code {
  kOk,
  kInvalidArgument,     // bad input from a client or peer
  kNotFound,
  kAlreadyExists,
  kFailedPrecondition,  // If-Match mismatch, state does not allow the operation
  kAborted,             // conflicting concurrent operation; retry may succeed
  kOutOfRange,
  kResourceExhausted,   // too large, too many
  kUnauthenticated,
  kUnavailable,         // transient: retry later (clock skew, shutting down, not caught up)
  kDeadlineExceeded,
  kGone,                // history compacted: re-bootstrap
  kInternal,            // a bug or an I/O failure
};

const char* CodeName(Code code);

class Status {
 public:
  Status() = default;
  Status(Code code, std::string reason, std::string message)
      : code_(code), reason_(std::move(reason)), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string reason, std::string message) {
    return Status(Code::kInvalidArgument, std::move(reason), std::move(message));
  }
  static Status NotFound(std::string reason, std::string message) {
    return Status(Code::kNotFound, std::move(reason), std::move(message));
  }
  static Status FailedPrecondition(std::string reason, std::string message) {
    return Status(Code::kFailedPrecondition, std::move(reason), std::move(message));
  }
  static Status Unavailable(std::string reason, std::string message) {
    return Status(Code::kUnavailable, std::move(reason), std::move(message));
  }
  static Status Internal(std::string message) {
    return Status(Code::kInternal, "internal", std::move(message));
  }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  // Stable slug such as "invalid-json"; empty for Ok.
  const std::string& reason() const { return reason_; }
  const std::string& message() const { return message_; }
  std::string ToString() const;

 private:
  Code code_ = Code::kOk;
  std::string reason_;
  std::string message_;
};

// Either a value or a non-Ok Status.
template <typename T>
class Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {  // NOLINT
    assert(!status_.ok() && "Result needs a value or an error");
  }

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }
  T& value() & { assert(ok()); return *value_; }
  const T& value() const& { assert(ok()); return *value_; }
  T&& value() && { assert(ok()); return std::move(*value_); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace crdt

// Early return on error, for Status-returning code.
#define MERIDIAN_RETURN_IF_ERROR(expr)            \
  do {                                            \
    ::crdt::Status meridian_status_ = (expr);     \
    if (!meridian_status_.ok()) return meridian_status_; \
  } while (0)
