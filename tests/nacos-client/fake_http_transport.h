// Test helper: an HttpTransport that records requests and lets the test answer them, in any order,
// on the test's thread (pair it with registry::ManualScheduler for a fully deterministic client).
#ifndef DUBBO_TESTS_NACOS_CLIENT_FAKE_HTTP_TRANSPORT_H_
#define DUBBO_TESTS_NACOS_CLIENT_FAKE_HTTP_TRANSPORT_H_

#include <deque>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "transport/http/curl_transport.h"

namespace dubbo::registry::nacos::testing {

class FakeHttpTransport final : public HttpTransport {
 public:
  struct Pending {
    HttpRequest request;
    std::function<void(HttpResponse)> done;
  };

  void Send(HttpRequest request, std::function<void(HttpResponse)> done) override {
    sent_.push_back(request);
    pending_.push_back(Pending{std::move(request), std::move(done)});
  }
  void CancelAll() override {
    std::deque<Pending> cancelled;
    cancelled.swap(pending_);
    for (auto& p : cancelled) {
      HttpResponse r;
      r.transport_error = CancelledError("cancelled");
      p.done(std::move(r));
    }
  }

  size_t pending() const { return pending_.size(); }
  // The oldest unanswered request.
  const HttpRequest& front() const { return pending_.front().request; }
  // Every request ever sent, in order.
  const std::vector<HttpRequest>& sent() const { return sent_; }

  // Answers the oldest unanswered request.
  void Reply(int status, std::string body, std::string peer_ip = "127.0.0.1") {
    HttpResponse r;
    r.status = status;
    r.body = std::move(body);
    r.peer_ip = std::move(peer_ip);
    Complete(std::move(r));
  }
  // Fails the oldest unanswered request without an answer.
  void Fail(Status error = UnavailableError("connection refused")) {
    HttpResponse r;
    r.transport_error = std::move(error);
    Complete(std::move(r));
  }

 private:
  void Complete(HttpResponse r) {
    Pending p = std::move(pending_.front());
    pending_.pop_front();
    p.done(std::move(r));
  }

  std::deque<Pending> pending_;
  std::vector<HttpRequest> sent_;
};

// True if `url`'s query string has name=value (value as encoded on the wire).
inline bool HasParam(std::string_view url, std::string_view name, std::string_view value) {
  const size_t q = url.find('?');
  if (q == std::string_view::npos) return false;
  std::string_view query = url.substr(q + 1);
  const std::string want = std::string(name) + "=" + std::string(value);
  while (!query.empty()) {
    const size_t amp = query.find('&');
    if (query.substr(0, amp) == want) return true;
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return false;
}

}  // namespace dubbo::registry::nacos::testing

#endif  // DUBBO_TESTS_NACOS_CLIENT_FAKE_HTTP_TRANSPORT_H_
