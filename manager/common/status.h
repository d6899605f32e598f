// Status and Result<T>: errors as values on every path that can fail at run
// time.  A Status is ok or carries an errno-style code plus a message a
// person can act on; Result<T> is a T or a failed Status.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace keel {

class Status {
 public:
  Status() = default;  // ok
  static Status Ok() { return Status(); }
  // code: a positive errno value (EINVAL, ENOENT, ...).
  static Status Error(int code, std::string message) {
    assert(code != 0);
    return Status(code, std::move(message));
  }

  bool ok() const { return code_ == 0; }
  int code() const { return code_; }
  const std::string& message() const { return message_; }
  // "message (errno name)" for logs and CLI output.
  std::string ToString() const;

 private:
  Status(int code, std::string message) : code_(code), message_(std::move(message)) {}
  int code_ = 0;
  std::string message_;
};

template <typename T>
class Result {
 public:
  Result(T value) : v_(std::move(value)) {}        // NOLINT: implicit
  Result(Status status) : v_(std::move(status)) {  // NOLINT: implicit
    assert(!std::get<Status>(v_).ok());
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T& value() & { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  const T& operator*() const& { return value(); }
  const T* operator->() const { return &value(); }
  Status status() const { return ok() ? Status() : std::get<Status>(v_); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace keel
