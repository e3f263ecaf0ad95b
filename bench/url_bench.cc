// Micro-benchmarks for dubbo::registry::URL on a realistic provider URL (18 parameters, ~480 bytes, as a
// Dubbo 3 provider registers it).
//
//   ./build/bench/url_bench --benchmark_min_time=0.2
//
// bytes_per_second is the size of the URL text read or written per iteration; items_per_second counts
// URLs (or lookups) per second.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "dubbo/registry/url.h"

namespace {

using dubbo::registry::Result;
using dubbo::registry::URL;

const std::string& ProviderText() {
  static const std::string text =
      "dubbo://192.168.1.23:20880/org.apache.dubbo.demo.DemoService"
      "?anyhost=true&application=demo-provider&background=false&deprecated=false&dubbo=2.0.2"
      "&dynamic=true&generic=false&group=demo&interface=org.apache.dubbo.demo.DemoService"
      "&methods=sayHello,sayHelloAsync,sayGoodbye&pid=12345&release=3.2.16&service-name-mapping=true"
      "&side=provider&timeout=3000&timestamp=1700000000000&version=1.0.0&weight=100";
  return text;
}

URL MustParse(std::string_view text) {
  Result<URL> url = URL::Parse(text);
  if (!url.ok()) {
    std::fprintf(stderr, "cannot parse the benchmark URL: %s\n", url.status().ToString().c_str());
    std::abort();
  }
  return *url;
}

const URL& Provider() {
  static const URL url = MustParse(ProviderText());
  return url;
}

void BM_Parse(benchmark::State& state) {
  const std::string& text = ProviderText();
  for (auto _ : state) {
    Result<URL> url = URL::Parse(text);
    benchmark::DoNotOptimize(url);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Parse);

void BM_ParseMinimal(benchmark::State& state) {
  const std::string text = "dubbo://10.0.0.1:20880/com.foo.Bar";
  for (auto _ : state) {
    Result<URL> url = URL::Parse(text);
    benchmark::DoNotOptimize(url);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ParseMinimal);

void BM_ToFullString(benchmark::State& state) {
  const URL& url = Provider();
  size_t bytes = 0;
  for (auto _ : state) {
    std::string s = url.ToFullString();
    bytes += s.size();
    benchmark::DoNotOptimize(s);
  }
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ToFullString);

void BM_ToString(benchmark::State& state) {
  const URL& url = Provider();
  size_t bytes = 0;
  for (auto _ : state) {
    std::string s = url.ToString();
    bytes += s.size();
    benchmark::DoNotOptimize(s);
  }
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ToString);

void BM_ServiceKey(benchmark::State& state) {
  const URL& url = Provider();
  for (auto _ : state) {
    std::string key = url.ServiceKey();
    benchmark::DoNotOptimize(key);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ServiceKey);

void BM_GetParameter(benchmark::State& state) {
  const URL& url = Provider();
  for (auto _ : state) {
    benchmark::DoNotOptimize(url.GetParameter("version"));
    benchmark::DoNotOptimize(url.GetInt("weight", 100));
    benchmark::DoNotOptimize(url.GetParameter("missing", "d"));
  }
  state.SetItemsProcessed(state.iterations() * 3);
}
BENCHMARK(BM_GetParameter);

void BM_WithParameter(benchmark::State& state) {
  const URL& url = Provider();
  for (auto _ : state) {
    URL changed = url.WithParameter("category", "providers");
    benchmark::DoNotOptimize(changed);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_WithParameter);

void BM_Copy(benchmark::State& state) {
  const URL& url = Provider();
  for (auto _ : state) {
    URL copy = url;
    benchmark::DoNotOptimize(copy);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Copy);

// Two equal URLs with separate representations (the timestamp differs, which equality ignores).
void BM_EqualsAndHash(benchmark::State& state) {
  const URL& a = Provider();
  const URL b = a.WithParameter("timestamp", "1700000000999");
  for (auto _ : state) {
    bool eq = a == b;
    size_t ha = a.Hash();
    size_t hb = b.Hash();
    benchmark::DoNotOptimize(eq);
    benchmark::DoNotOptimize(ha);
    benchmark::DoNotOptimize(hb);
  }
  if (!(a == b) || a.Hash() != b.Hash()) state.SkipWithError("URLs differing only in timestamp must be equal");
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EqualsAndHash);

void BM_Hash(benchmark::State& state) {
  const URL& url = Provider();
  for (auto _ : state) benchmark::DoNotOptimize(url.Hash());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Hash);

void BM_Encode(benchmark::State& state) {
  const std::string& text = ProviderText();
  for (auto _ : state) {
    std::string encoded = URL::Encode(text);
    benchmark::DoNotOptimize(encoded);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Encode);

void BM_Decode(benchmark::State& state) {
  const std::string encoded = URL::Encode(ProviderText());
  for (auto _ : state) {
    Result<std::string> decoded = URL::Decode(encoded);
    benchmark::DoNotOptimize(decoded);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * encoded.size()));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Decode);

void BM_ParseEncoded(benchmark::State& state) {
  const std::string encoded = URL::Encode(ProviderText());
  for (auto _ : state) {
    Result<URL> url = URL::ParseEncoded(encoded);
    benchmark::DoNotOptimize(url);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * encoded.size()));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ParseEncoded);

void BM_IsMatch(benchmark::State& state) {
  const URL& provider = Provider();
  const URL consumer = MustParse(
      "consumer://192.168.1.50/org.apache.dubbo.demo.DemoService?application=demo-consumer"
      "&category=providers,configurators,routers&check=false&dubbo=2.0.2&group=demo"
      "&interface=org.apache.dubbo.demo.DemoService&methods=sayHello&pid=777&side=consumer&version=1.0.0");
  for (auto _ : state) benchmark::DoNotOptimize(dubbo::registry::IsMatch(consumer, provider));
  if (!dubbo::registry::IsMatch(consumer, provider)) state.SkipWithError("consumer must match the provider");
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_IsMatch);

}  // namespace

BENCHMARK_MAIN();
