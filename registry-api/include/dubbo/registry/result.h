// File: dubbo/registry/result.h
//
// Result<T>: either a value of type T or a non-OK Status. The library's way of returning a value from a
// call that can fail without throwing.
//
//   Result<URL> url = URL::Parse(text);
//   if (!url.ok()) return url.status();
//   Use(*url);
//
// Calling value() (or * / ->) on an error is a programming bug: it asserts in debug builds and
// aborts in release builds. It never throws.
//
// Thread-safety: a Result is a plain value; the usual rules for values apply.
#ifndef DUBBO_REGISTRY_RESULT_H_
#define DUBBO_REGISTRY_RESULT_H_

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <type_traits>
#include <utility>

#include "dubbo/registry/status.h"

namespace dubbo::registry {

template <typename T>
class [[nodiscard]] Result {
  static_assert(!std::is_same_v<std::decay_t<T>, Status>, "Result<Status> is not meaningful");

 public:
  // An error. REQUIRES: !status.ok() (an OK status becomes an kInternal error).
  Result(Status status) : status_(std::move(status)) {  // NOLINT: implicit by design
    if (status_.ok()) status_ = InternalError("Result constructed from an OK status without a value");
  }
  Result(const T& value) : value_(value) {}        // NOLINT: implicit by design
  Result(T&& value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  template <typename U, typename = std::enable_if_t<std::is_constructible_v<T, U&&> &&
                                                     !std::is_same_v<std::decay_t<U>, Result> &&
                                                     !std::is_same_v<std::decay_t<U>, Status> &&
                                                     !std::is_same_v<std::decay_t<U>, T>>>
  Result(U&& value) : value_(std::forward<U>(value)) {}  // NOLINT: implicit by design

  bool ok() const { return value_.has_value(); }
  // OK when a value is held.
  const Status& status() const { return status_; }

  const T& value() const& { return CheckedValue(); }
  T& value() & { return const_cast<T&>(CheckedValue()); }
  T&& value() && { return std::move(const_cast<T&>(CheckedValue())); }

  const T& operator*() const& { return value(); }
  T& operator*() & { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  const T* operator->() const { return &value(); }
  T* operator->() { return &value(); }

  // The value, or `fallback` on error.
  template <typename U>
  T value_or(U&& fallback) const& {
    return ok() ? *value_ : static_cast<T>(std::forward<U>(fallback));
  }

 private:
  const T& CheckedValue() const {
    if (!value_.has_value()) {
      std::fprintf(stderr, "Result::value() called on an error: %s\n", status_.ToString().c_str());
      std::abort();
    }
    return *value_;
  }

  Status status_;
  std::optional<T> value_;
};

}  // namespace dubbo::registry

#endif  // DUBBO_REGISTRY_RESULT_H_
