#include "dubbo/registry/status.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "dubbo/registry/result.h"

namespace dubbo::registry {
namespace {

TEST(StatusTest, OkIsCheapAndEmpty) {
  Status ok;
  EXPECT_TRUE(ok.ok());
  EXPECT_EQ(ok.code(), StatusCode::kOk);
  EXPECT_EQ(ok.message(), "");
  EXPECT_EQ(ok.ToString(), "OK");
  EXPECT_EQ(sizeof(Status), sizeof(void*));
  EXPECT_TRUE(Status(StatusCode::kOk, "ignored").ok());
}

TEST(StatusTest, ErrorsCarryCodeAndMessage) {
  Status s = UnavailableError("server 127.0.0.1:8848 refused the connection");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kUnavailable);
  EXPECT_EQ(s.ToString(), "UNAVAILABLE: server 127.0.0.1:8848 refused the connection");
  EXPECT_EQ(s.WithPrefix("register").ToString(),
            "UNAVAILABLE: register: server 127.0.0.1:8848 refused the connection");
  EXPECT_TRUE(Status().WithPrefix("x").ok());
}

TEST(StatusTest, CopiesAreIndependentAndComparable) {
  Status a = NotFoundError("a");
  Status b = a;
  EXPECT_EQ(a, b);
  b = InternalError("b");
  EXPECT_NE(a, b);
  EXPECT_EQ(a.message(), "a");
  Status moved = std::move(b);
  EXPECT_EQ(moved.code(), StatusCode::kInternal);
}

TEST(StatusTest, TransientCodes) {
  EXPECT_TRUE(UnavailableError("").IsTransient());
  EXPECT_TRUE(DeadlineExceededError("").IsTransient());
  EXPECT_TRUE(InternalError("").IsTransient());
  EXPECT_FALSE(InvalidArgumentError("").IsTransient());
  EXPECT_FALSE(PermissionDeniedError("").IsTransient());
  EXPECT_FALSE(Status().IsTransient());
}

Status FailsWhen(bool fail) {
  DUBBO_RETURN_IF_ERROR(fail ? CancelledError("stop") : Status());
  return AlreadyExistsError("reached the end");
}

TEST(StatusTest, ReturnIfError) {
  EXPECT_EQ(FailsWhen(true).code(), StatusCode::kCancelled);
  EXPECT_EQ(FailsWhen(false).code(), StatusCode::kAlreadyExists);
}

TEST(ResultTest, HoldsAValueOrAnError) {
  Result<std::string> value = std::string("x");
  ASSERT_TRUE(value.ok());
  EXPECT_TRUE(value.status().ok());
  EXPECT_EQ(*value, "x");
  EXPECT_EQ(value->size(), 1u);

  Result<std::string> error = PermissionDeniedError("no token");
  EXPECT_FALSE(error.ok());
  EXPECT_EQ(error.status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(error.value_or("fallback"), "fallback");
}

TEST(ResultTest, AnOkStatusWithoutValueBecomesAnError) {
  Result<int> r = Status();
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInternal);
}

TEST(ResultTest, MoveOnlyValues) {
  Result<std::unique_ptr<int>> r = std::make_unique<int>(7);
  ASSERT_TRUE(r.ok());
  std::unique_ptr<int> taken = std::move(r).value();
  EXPECT_EQ(*taken, 7);
}

TEST(ResultDeathTest, ValueOfAnErrorAborts) {
  Result<int> r = InternalError("boom");
  EXPECT_DEATH((void)r.value(), "Result::value\\(\\) called on an error: INTERNAL: boom");
}

}  // namespace
}  // namespace dubbo::registry
