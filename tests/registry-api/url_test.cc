// Tests for dubbo::registry::URL, written against url.h and Dubbo 3.x's URL grammar.
//
// Sections: parsing (the table of Dubbo's parse results, then the deliberate decisions in url.h), parameters and typed getters,
// derived keys, printing, encoding, URL::Empty, equality and hashing,
// builders, matching and classification, and a seeded round-trip property test.
#include "dubbo/registry/url.h"

#include <gtest/gtest.h>

#include <cctype>
#include <cstdint>
#include <iterator>
#include <limits>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace dubbo::registry {
namespace {

using Params = URL::Parameters;

// Parses `text`, failing the test (and returning the empty URL) when Parse() reports an error.
URL MustParse(std::string_view text) {
  Result<URL> url = URL::Parse(text);
  if (!url.ok()) {
    ADD_FAILURE() << "URL::Parse(\"" << text << "\") failed: " << url.status();
    return URL();
  }
  return *url;
}

// Every part compared exactly (operator== ignores the timestamp value; this does not).
void ExpectSameUrl(const URL& actual, const URL& expected) {
  EXPECT_EQ(actual.protocol(), expected.protocol());
  EXPECT_EQ(actual.username(), expected.username());
  EXPECT_EQ(actual.password(), expected.password());
  EXPECT_EQ(actual.host(), expected.host());
  EXPECT_EQ(actual.port(), expected.port());
  EXPECT_EQ(actual.path(), expected.path());
  EXPECT_EQ(actual.parameters(), expected.parameters());
  EXPECT_TRUE(actual == expected);
}

// ---------------------------------------------------------------------------------------------------
// Parsing: one row per case. `ok == false` rows expect kInvalidArgument.

struct ParseCase {
  const char* name;
  std::string input;
  bool ok;
  std::string protocol;
  std::string username;
  std::string password;
  std::string host;
  int port;
  std::string path;
  Params parameters;
};

std::ostream& operator<<(std::ostream& os, const ParseCase& c) { return os << c.name << ": " << c.input; }

ParseCase Ok(const char* name, std::string input, std::string protocol, std::string username,
             std::string password, std::string host, int port, std::string path, Params parameters = {}) {
  return ParseCase{name,
                   std::move(input),
                   true,
                   std::move(protocol),
                   std::move(username),
                   std::move(password),
                   std::move(host),
                   port,
                   std::move(path),
                   std::move(parameters)};
}

ParseCase Err(const char* name, std::string input) {
  return ParseCase{name, std::move(input), false, {}, {}, {}, {}, 0, {}, {}};
}

class ParseTest : public ::testing::TestWithParam<ParseCase> {};

TEST_P(ParseTest, Parses) {
  const ParseCase& c = GetParam();
  Result<URL> url = URL::Parse(c.input);
  if (!c.ok) {
    ASSERT_FALSE(url.ok()) << "expected an error, got " << url->ToFullString();
    EXPECT_EQ(url.status().code(), StatusCode::kInvalidArgument) << url.status();
    EXPECT_FALSE(url.status().message().empty());
    return;
  }
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_EQ(url->protocol(), c.protocol);
  EXPECT_EQ(url->username(), c.username);
  EXPECT_EQ(url->password(), c.password);
  EXPECT_EQ(url->host(), c.host);
  EXPECT_EQ(url->port(), c.port);
  EXPECT_EQ(url->path(), c.path);
  EXPECT_EQ(url->parameters(), c.parameters);
}

std::string CaseName(const ::testing::TestParamInfo<ParseCase>& info) { return info.param.name; }

// What Dubbo 3.x's URL.valueOf gives for each input, row by row (with url.h's deliberate differences for `::1` and `h:`).
INSTANTIATE_TEST_SUITE_P(
    SpecTable, ParseTest,
    ::testing::Values(
        Ok("UserPasswordPortPath",
           "dubbo://admin:hello1234@10.20.130.230:20880/context/path?version=1.0.0", "dubbo", "admin",
           "hello1234", "10.20.130.230", 20880, "context/path", {{"version", "1.0.0"}}),
        Ok("BracketedIpv6WithPort", "dubbo://[::1]:20880/com.foo.Bar", "dubbo", "", "", "[::1]", 20880,
           "com.foo.Bar"),
        Ok("BracketedIpv6ZoneIdWithPort", "dubbo://[fe80::1%en0]:20880/p", "dubbo", "", "",
           "[fe80::1%en0]", 20880, "p"),
        Ok("UnbracketedIpv6ZoneIdIsWholeHost", "dubbo://fe80:0:0:0:894:aeec:f37d:23e1%en0/p", "dubbo", "",
           "", "fe80:0:0:0:894:aeec:f37d:23e1%en0", 0, "p"),
        Err("UnbracketedIpv6IsRejected", "dubbo://::1/p"),
        Ok("NoPortMeansPortZero", "dubbo://10.0.0.1/com.foo.Bar", "dubbo", "", "", "10.0.0.1", 0,
           "com.foo.Bar"),
        Ok("FileTripleSlashHasNoHost", "file:///home/u/r.js?type=script", "file", "", "", "", 0,
           "home/u/r.js", {{"type", "script"}}),
        Ok("ProtocolLessFirstSegmentIsHost", "home/u/r.js", "", "", "", "home", 0, "u/r.js"),
        Ok("QueryPairsDubbo3Semantics", "dubbo://h:1/p?a&b=&=c&d=e=f&g=1&g=2;h=3", "dubbo", "", "", "h",
           1, "p", {{"a", ""}, {"b", ""}, {"c", ""}, {"d", "e=f"}, {"g", "2"}, {"h", "3"}}),
        Ok("FragmentCutsOnlyTheBody", "dubbo://h:1/p#frag?x=1", "dubbo", "", "", "h", 1, "p",
           {{"x", "1"}}),
        Err("EmptyPortIsAnError", "dubbo://h:/p")),
    CaseName);

// The deliberate decisions documented in url.h and further grammar edge cases.
INSTANTIATE_TEST_SUITE_P(
    Decisions, ParseTest,
    ::testing::Values(
        Ok("BracketedIpv6WithoutPort", "dubbo://[::1]/p", "dubbo", "", "", "[::1]", 0, "p"),
        Ok("BracketedIpv6WithoutPortOrPath", "dubbo://[2001:db8::1]", "dubbo", "", "", "[2001:db8::1]", 0,
           ""),
        Err("UnbracketedIpv6LoopbackWithPortIsRejected", "dubbo://::1:20880/p"),
        Err("NonNumericPort", "dubbo://h:abc/p"),
        Err("NonNumericPortAfterBrackets", "dubbo://[::1]:abc/p"),
        Err("PortAboveRange", "dubbo://h:65536/p"),
        Err("PortOverflowsEveryInteger", "dubbo://h:99999999999999999999/p"),
        Err("NegativePort", "dubbo://h:-1/p"),
        Err("PortWithTrailingGarbage", "dubbo://h:80x/p"),
        Ok("MaxPort", "dubbo://h:65535/p", "dubbo", "", "", "h", 65535, "p"),
        Ok("ExplicitPortZero", "dubbo://h:0/p", "dubbo", "", "", "h", 0, "p"),
        Err("PasswordWithoutUser", "dubbo://:secret@h:1/p"),
        Ok("UserWithoutPassword", "dubbo://user@h:1/p", "dubbo", "user", "", "h", 1, "p"),
        Ok("UserWithEmptyPassword", "dubbo://user:@h:1/p", "dubbo", "user", "", "h", 1, "p"),
        Ok("UserInfoEndsAtLastAt", "dubbo://a:b@c@h:1/p", "dubbo", "a", "b@c", "h", 1, "p"),
        Ok("PasswordKeepsLaterColons", "dubbo://u:p:w@h:1/p", "dubbo", "u", "p:w", "h", 1, "p"),
        Ok("UserInfoWithoutPort", "dubbo://u:p@h/x", "dubbo", "u", "p", "h", 0, "x"),
        Ok("AtInPathIsNotUserInfo", "dubbo://h:1/p@q", "dubbo", "", "", "h", 1, "p@q"),
        Ok("ProtocolLessHostPort", "10.0.0.1:20880", "", "", "", "10.0.0.1", 20880, ""),
        Ok("ProtocolLessHostPortPath", "10.0.0.1:20880/com.foo.Bar?version=1", "", "", "", "10.0.0.1",
           20880, "com.foo.Bar", {{"version", "1"}}),
        Err("MissingProtocol", "://x"),
        Err("MissingProtocolOnly", "://"),
        Err("MissingProtocolSingleSlash", ":/p"),
        Err("EmptyString", ""),
        Ok("ProtocolColonSlashPath", "file:/D:/1/router.js", "file", "", "", "", 0, "D:/1/router.js"),
        Ok("HashAfterQueryStaysInValue", "dubbo://h:1/p?x=1#frag", "dubbo", "", "", "h", 1, "p",
           {{"x", "1#frag"}}),
        Ok("HashInAuthorityCutsEverythingAfter", "dubbo://h#x:1/p", "dubbo", "", "", "h", 0, ""),
        Ok("QuestionMarkInValue", "dubbo://h:1/p?u=a?b", "dubbo", "", "", "h", 1, "p", {{"u", "a?b"}}),
        Ok("NoPercentDecoding", "dubbo://h:1/a%2Fb?k=a%20b&x%3D=1", "dubbo", "", "", "h", 1, "a%2Fb",
           {{"k", "a%20b"}, {"x%3D", "1"}}),
        Ok("PlusIsNotSpace", "dubbo://h:1/p?k=a+b", "dubbo", "", "", "h", 1, "p", {{"k", "a+b"}}),
        Ok("EmptyQuery", "dubbo://h:1/p?", "dubbo", "", "", "h", 1, "p"),
        Ok("OnlySeparatorsInQuery", "dubbo://h:1/p?&&;;&", "dubbo", "", "", "h", 1, "p"),
        Ok("LoneEqualsIsSkipped", "dubbo://h:1/p?=&a=1", "dubbo", "", "", "h", 1, "p", {{"a", "1"}}),
        // Dubbo 3.x (URLStrParser.parseDecodedParams) skips every '=' at the start of a pair, then
        // splits at the next one: "=c=d" is c -> "d", "==c" is c -> "".
        Ok("LeadingEqualsThenPair", "dubbo://h:1/p?=c=d", "dubbo", "", "", "h", 1, "p", {{"c", "d"}}),
        Ok("DoubleLeadingEquals", "dubbo://h:1/p?==c", "dubbo", "", "", "h", 1, "p", {{"c", ""}}),
        Ok("LeadingSlashesOfPathStripped", "dubbo://h:1//p/q", "dubbo", "", "", "h", 1, "p/q"),
        Ok("TrailingSlashIsEmptyPath", "dubbo://h:1/", "dubbo", "", "", "h", 1, ""),
        Ok("NoPath", "dubbo://h:1", "dubbo", "", "", "h", 1, ""),
        Ok("NoPathWithQuery", "dubbo://h:1?a=1", "dubbo", "", "", "h", 1, "", {{"a", "1"}}),
        Ok("EmptyHost", "dubbo:///p", "dubbo", "", "", "", 0, "p"),
        Ok("PathKeepsColonSlashSlash", "dubbo://h:1/a://b", "dubbo", "", "", "h", 1, "a://b"),
        Ok("SemicolonSeparatesPairs", "dubbo://h:1/p?a=1;b=2&c=3", "dubbo", "", "", "h", 1, "p",
           {{"a", "1"}, {"b", "2"}, {"c", "3"}}),
        Ok("RepeatedKeyLastWins", "dubbo://h:1/p?k=1&k=2&k=3", "dubbo", "", "", "h", 1, "p", {{"k", "3"}}),
        Ok("RepeatedKeyLastWinsEvenIfEmpty", "dubbo://h:1/p?k=1&k", "dubbo", "", "", "h", 1, "p",
           {{"k", ""}}),
        Ok("DefaultPrefixSetsKey", "dubbo://h:1/p?default.timeout=5", "dubbo", "", "", "h", 1, "p",
           {{"default.timeout", "5"}, {"timeout", "5"}}),
        Ok("ExplicitKeyBeatsDefaultAfter", "dubbo://h:1/p?timeout=3&default.timeout=5", "dubbo", "", "",
           "h", 1, "p", {{"default.timeout", "5"}, {"timeout", "3"}}),
        Ok("ExplicitKeyBeatsDefaultBefore", "dubbo://h:1/p?default.timeout=5&timeout=3", "dubbo", "", "",
           "h", 1, "p", {{"default.timeout", "5"}, {"timeout", "3"}}),
        Ok("ExplicitEmptyKeyBeatsDefault", "dubbo://h:1/p?timeout=&default.timeout=5", "dubbo", "", "",
           "h", 1, "p", {{"default.timeout", "5"}, {"timeout", ""}}),
        Ok("ParametersComeOutSorted", "dubbo://h:1/p?z=1&b=2&a=3&m=4", "dubbo", "", "", "h", 1, "p",
           {{"a", "3"}, {"b", "2"}, {"m", "4"}, {"z", "1"}})),
    CaseName);

TEST(UrlParseTest, ErrorMessagesNameTheProblem) {
  for (const char* text : {"://x", "dubbo://h:abc/p", "dubbo://:pw@h/p", "dubbo://::1/p"}) {
    Result<URL> url = URL::Parse(text);
    ASSERT_FALSE(url.ok()) << text;
    EXPECT_EQ(url.status().code(), StatusCode::kInvalidArgument) << text;
    EXPECT_GE(url.status().message().size(), 5u) << text;
  }
}

TEST(UrlParseTest, TablePrintsBackWhereDubboDoes) {
  EXPECT_EQ(MustParse("file:///home/u/r.js?type=script").ToString(), "file:///home/u/r.js?type=script");
  EXPECT_EQ(MustParse("dubbo://[::1]:20880/com.foo.Bar").ToString(), "dubbo://[::1]:20880/com.foo.Bar");
  EXPECT_EQ(MustParse("dubbo://fe80:0:0:0:894:aeec:f37d:23e1%en0/p").ToString(),
            "dubbo://fe80:0:0:0:894:aeec:f37d:23e1%en0/p");
  EXPECT_EQ(MustParse("dubbo://h:1/p?a&b=&=c&d=e=f&g=1&g=2;h=3").ToString(),
            "dubbo://h:1/p?a=&b=&c=&d=e=f&g=2&h=3");
}

// Protocol-less and host-less URLs must print to something Parse() reads back.
TEST(UrlParseTest, UnusualShapesRoundTrip) {
  for (const char* text :
       {"10.0.0.1:20880", "home/u/r.js", "file:///home/u/r.js?type=script", "file:/D:/1/router.js",
        "dubbo://[::1]/p", "dubbo://[fe80::1%en0]:20880/p", "dubbo://fe80:0:0:0:894:aeec:f37d:23e1%en0/p",
        "dubbo://user@h:1/p", "dubbo://a:b@c@h:1/p", "dubbo://h:1/p@q", "dubbo:///p",
        "dubbo://h:1?a=1", "dubbo://h:1/p?x=1#frag", "dubbo://h:1/p?u=a?b&v=%20"}) {
    SCOPED_TRACE(text);
    URL url = MustParse(text);
    std::string printed = url.ToFullString();
    Result<URL> again = URL::Parse(printed);
    ASSERT_TRUE(again.ok()) << printed << ": " << again.status();
    ExpectSameUrl(*again, url);
    EXPECT_EQ(again->ToFullString(), printed);
  }
}

// ---------------------------------------------------------------------------------------------------
// Construction and accessors.

TEST(UrlTest, DefaultIsEmpty) {
  URL url;
  EXPECT_EQ(url.protocol(), "");
  EXPECT_EQ(url.username(), "");
  EXPECT_EQ(url.password(), "");
  EXPECT_EQ(url.host(), "");
  EXPECT_EQ(url.port(), 0);
  EXPECT_EQ(url.path(), "");
  EXPECT_TRUE(url.parameters().empty());
  EXPECT_EQ(url, URL());
  EXPECT_EQ(url.Hash(), URL().Hash());
}

TEST(UrlTest, ConstructorNormalises) {
  URL url("dubbo", "10.0.0.1", -5, "///com.foo.Bar",
          {{"version", "1.0.0"}, {"application", "demo"}, {"version", "2.0.0"}, {"anyhost", "true"}});
  EXPECT_EQ(url.protocol(), "dubbo");
  EXPECT_EQ(url.host(), "10.0.0.1");
  EXPECT_EQ(url.port(), 0);
  EXPECT_EQ(url.path(), "com.foo.Bar");
  EXPECT_EQ(url.parameters(),
            (Params{{"anyhost", "true"}, {"application", "demo"}, {"version", "2.0.0"}}));
  EXPECT_EQ(url.username(), "");
  EXPECT_EQ(url.password(), "");
}

TEST(UrlTest, Accessors) {
  URL url = MustParse("dubbo://admin:hello1234@10.20.130.230:20880/context/path?version=1.0.0&b=2");
  EXPECT_EQ(url.protocol(), "dubbo");
  EXPECT_EQ(url.username(), "admin");
  EXPECT_EQ(url.password(), "hello1234");
  EXPECT_EQ(url.host(), "10.20.130.230");
  EXPECT_EQ(url.port(), 20880);
  EXPECT_EQ(url.path(), "context/path");
  EXPECT_EQ(url.parameters(), (Params{{"b", "2"}, {"version", "1.0.0"}}));
  EXPECT_EQ(url.Address(), "10.20.130.230:20880");
  EXPECT_EQ(url.BackupAddress(), "10.20.130.230:20880");
}

TEST(UrlTest, Address) {
  EXPECT_EQ(URL("dubbo", "10.0.0.1", 0, "p").Address(), "10.0.0.1");
  EXPECT_EQ(URL("dubbo", "10.0.0.1", 20880, "p").Address(), "10.0.0.1:20880");
  EXPECT_EQ(URL("dubbo", "[::1]", 20880, "p").Address(), "[::1]:20880");
  EXPECT_EQ(URL("dubbo", "[::1]", 0, "p").Address(), "[::1]");
}

TEST(UrlTest, BackupAddress) {
  URL url = MustParse(
      "zookeeper://10.0.0.1:2181/org.apache.dubbo.registry.RegistryService?backup=10.0.0.2:2181,10.0.0.3:2181");
  EXPECT_EQ(url.Address(), "10.0.0.1:2181");
  EXPECT_EQ(url.BackupAddress(), "10.0.0.1:2181,10.0.0.2:2181,10.0.0.3:2181");
  EXPECT_EQ(MustParse("nacos://10.0.0.1:8848/x?backup=").BackupAddress(), "10.0.0.1:8848");
  EXPECT_EQ(MustParse("nacos://10.0.0.1/x?backup=10.0.0.2").BackupAddress(), "10.0.0.1,10.0.0.2");
}

// ---------------------------------------------------------------------------------------------------
// Parameters.

TEST(UrlParametersTest, FindAndGetParameter) {
  URL url = MustParse("dubbo://h:1/p?a=1&e=&sp=%20x");
  ASSERT_TRUE(url.FindParameter("a").has_value());
  EXPECT_EQ(*url.FindParameter("a"), "1");
  ASSERT_TRUE(url.FindParameter("e").has_value());
  EXPECT_EQ(*url.FindParameter("e"), "");
  EXPECT_FALSE(url.FindParameter("zz").has_value());
  EXPECT_FALSE(url.FindParameter("").has_value());
  EXPECT_TRUE(url.HasParameter("a"));
  EXPECT_TRUE(url.HasParameter("e"));
  EXPECT_FALSE(url.HasParameter("zz"));

  EXPECT_EQ(url.GetParameter("a"), "1");
  EXPECT_EQ(url.GetParameter("a", "d"), "1");
  EXPECT_EQ(url.GetParameter("e", "d"), "d");  // empty value -> default (Dubbo)
  EXPECT_EQ(url.GetParameter("e"), "");
  EXPECT_EQ(url.GetParameter("zz", "d"), "d");
  EXPECT_EQ(url.GetParameter("zz"), "");
  EXPECT_EQ(url.GetParameter("sp"), "%20x");
}

TEST(UrlParametersTest, ParameterViewsLiveAsLongAsTheUrl) {
  URL url = MustParse("dubbo://h:1/p?k=value");
  std::string_view v = url.GetParameter("k");
  URL other = url.WithParameter("k", "changed");  // must not disturb `url`
  EXPECT_EQ(v, "value");
  EXPECT_EQ(other.GetParameter("k"), "changed");
}

TEST(UrlParametersTest, GetInt) {
  URL url = MustParse(
      "dubbo://h:1/p?n=-42&p=7&zero=0&big=9223372036854775807&small=-9223372036854775808"
      "&over=9223372036854775808&w=abc&e=&d=1.5&tail=12abc&head=abc12");
  EXPECT_EQ(url.GetInt("n", 0), -42);
  EXPECT_EQ(url.GetInt("p", 0), 7);
  EXPECT_EQ(url.GetInt("zero", 9), 0);
  EXPECT_EQ(url.GetInt("big", 0), std::numeric_limits<int64_t>::max());
  EXPECT_EQ(url.GetInt("small", 0), std::numeric_limits<int64_t>::min());
  EXPECT_EQ(url.GetInt("over", 7), 7);
  EXPECT_EQ(url.GetInt("w", 7), 7);
  EXPECT_EQ(url.GetInt("e", 7), 7);
  EXPECT_EQ(url.GetInt("missing", 7), 7);
  EXPECT_EQ(url.GetInt("d", 7), 7);
  EXPECT_EQ(url.GetInt("tail", 7), 7);
  EXPECT_EQ(url.GetInt("head", 7), 7);
}

TEST(UrlParametersTest, GetDouble) {
  URL url = MustParse("dubbo://h:1/p?d=1.5&i=3&neg=-0.25&w=abc&e=&tail=1.5x");
  EXPECT_DOUBLE_EQ(url.GetDouble("d", 0), 1.5);
  EXPECT_DOUBLE_EQ(url.GetDouble("i", 0), 3.0);
  EXPECT_DOUBLE_EQ(url.GetDouble("neg", 0), -0.25);
  EXPECT_DOUBLE_EQ(url.GetDouble("w", 2.5), 2.5);
  EXPECT_DOUBLE_EQ(url.GetDouble("e", 2.5), 2.5);
  EXPECT_DOUBLE_EQ(url.GetDouble("missing", 2.5), 2.5);
  EXPECT_DOUBLE_EQ(url.GetDouble("tail", 2.5), 2.5);
}

TEST(UrlParametersTest, GetBool) {
  URL url = MustParse("dubbo://h:1/p?t=true&T=TRUE&f=false&F=False&yes=yes&one=1&e=");
  EXPECT_TRUE(url.GetBool("t", false));
  EXPECT_TRUE(url.GetBool("T", false));
  EXPECT_FALSE(url.GetBool("f", true));
  EXPECT_FALSE(url.GetBool("F", true));
  EXPECT_TRUE(url.GetBool("yes", true));
  EXPECT_FALSE(url.GetBool("yes", false));
  EXPECT_TRUE(url.GetBool("one", true));
  EXPECT_FALSE(url.GetBool("one", false));
  EXPECT_TRUE(url.GetBool("e", true));
  EXPECT_FALSE(url.GetBool("e", false));
  EXPECT_TRUE(url.GetBool("missing", true));
  EXPECT_FALSE(url.GetBool("missing", false));
}

TEST(UrlParametersTest, MethodParameters) {
  URL url = MustParse(
      "dubbo://h:1/p?timeout=1000&sayHello.timeout=300&retries=2&sayHello.async=true&sayBye.timeout=");
  EXPECT_EQ(url.GetMethodParameter("sayHello", "timeout"), "300");
  EXPECT_EQ(url.GetMethodParameter("sayHello", "timeout", "5"), "300");
  EXPECT_EQ(url.GetMethodParameter("other", "timeout"), "1000");
  EXPECT_EQ(url.GetMethodParameter("sayBye", "timeout"), "1000");  // empty method value falls through
  EXPECT_EQ(url.GetMethodParameter("sayHello", "retries"), "2");
  EXPECT_EQ(url.GetMethodParameter("sayHello", "missing", "d"), "d");
  EXPECT_EQ(url.GetMethodParameter("sayHello", "missing"), "");

  EXPECT_EQ(url.GetMethodInt("sayHello", "timeout", 0), 300);
  EXPECT_EQ(url.GetMethodInt("other", "timeout", 0), 1000);
  EXPECT_EQ(url.GetMethodInt("other", "missing", 5), 5);
  EXPECT_TRUE(url.GetMethodBool("sayHello", "async", false));
  EXPECT_FALSE(url.GetMethodBool("other", "async", false));
  EXPECT_TRUE(url.GetMethodBool("other", "async", true));

  URL only_method = MustParse("dubbo://h:1/p?sayHello.timeout=300");
  EXPECT_EQ(only_method.GetMethodInt("sayHello", "timeout", 1), 300);
  EXPECT_EQ(only_method.GetMethodInt("sayBye", "timeout", 1), 1);
}

// ---------------------------------------------------------------------------------------------------
// Derived keys.

TEST(UrlKeysTest, ServiceInterface) {
  EXPECT_EQ(MustParse("dubbo://h:1/com.foo.Bar").ServiceInterface(), "com.foo.Bar");
  EXPECT_EQ(MustParse("dubbo://h:1/path?interface=com.foo.Bar").ServiceInterface(), "com.foo.Bar");
  EXPECT_EQ(MustParse("dubbo://h:1/path?interface=").ServiceInterface(), "path");
}

TEST(UrlKeysTest, GroupVersionCategory) {
  URL url = MustParse("dubbo://h:1/com.foo.Bar?group=g&version=1.0.0&category=routers");
  EXPECT_EQ(url.Group(), "g");
  EXPECT_EQ(url.Version(), "1.0.0");
  EXPECT_EQ(url.Category(), "routers");
  EXPECT_EQ(url.Category("consumers"), "routers");
  URL bare = MustParse("dubbo://h:1/com.foo.Bar");
  EXPECT_EQ(bare.Group(), "");
  EXPECT_EQ(bare.Version(), "");
  EXPECT_EQ(bare.Category(), "providers");
  EXPECT_EQ(bare.Category("consumers"), "consumers");
  EXPECT_EQ(MustParse("dubbo://h:1/com.foo.Bar?category=").Category(), "providers");
}

TEST(UrlKeysTest, ServiceKey) {
  const std::string base = "dubbo://h:1/com.foo.Bar";
  EXPECT_EQ(MustParse(base + "?group=g&version=1.0.0").ServiceKey(), "g/com.foo.Bar:1.0.0");
  EXPECT_EQ(MustParse(base + "?version=1.0.0").ServiceKey(), "com.foo.Bar:1.0.0");
  EXPECT_EQ(MustParse(base + "?group=g").ServiceKey(), "g/com.foo.Bar");
  EXPECT_EQ(MustParse(base).ServiceKey(), "com.foo.Bar");
  EXPECT_EQ(MustParse(base + "?group=&version=").ServiceKey(), "com.foo.Bar");
  EXPECT_EQ(MustParse("dubbo://h:1/x?interface=com.foo.Baz&group=g&version=2").ServiceKey(),
            "g/com.foo.Baz:2");
}

TEST(UrlKeysTest, DisplayServiceKey) {
  EXPECT_EQ(MustParse("dubbo://h:1/com.foo.Bar?group=g&version=1.0.0").DisplayServiceKey(),
            "com.foo.Bar:1.0.0");
  EXPECT_EQ(MustParse("dubbo://h:1/com.foo.Bar?group=g").DisplayServiceKey(), "com.foo.Bar");
  EXPECT_EQ(MustParse("dubbo://h:1/com.foo.Bar").DisplayServiceKey(), "com.foo.Bar");
}

TEST(UrlKeysTest, ColonSeparatedKeyKeepsEmptySegments) {
  EXPECT_EQ(MustParse("dubbo://h:1/com.foo.Bar").ColonSeparatedKey(), "com.foo.Bar::");
  EXPECT_EQ(MustParse("dubbo://h:1/com.foo.Bar?version=1.0.0").ColonSeparatedKey(), "com.foo.Bar:1.0.0:");
  EXPECT_EQ(MustParse("dubbo://h:1/com.foo.Bar?group=g").ColonSeparatedKey(), "com.foo.Bar::g");
  EXPECT_EQ(MustParse("dubbo://h:1/com.foo.Bar?group=g&version=1.0.0").ColonSeparatedKey(),
            "com.foo.Bar:1.0.0:g");
}

TEST(UrlKeysTest, EmptyProtocolAndAnyHost) {
  EXPECT_TRUE(MustParse("empty://0.0.0.0/com.foo.Bar").IsEmptyProtocol());
  EXPECT_FALSE(MustParse("dubbo://0.0.0.0/com.foo.Bar").IsEmptyProtocol());
  EXPECT_TRUE(MustParse("dubbo://0.0.0.0:20880/p").IsAnyHost());
  EXPECT_TRUE(MustParse("dubbo://10.0.0.1:20880/p?anyhost=true").IsAnyHost());
  EXPECT_FALSE(MustParse("dubbo://10.0.0.1:20880/p?anyhost=false").IsAnyHost());
  EXPECT_FALSE(MustParse("dubbo://10.0.0.1:20880/p").IsAnyHost());
}

// ---------------------------------------------------------------------------------------------------
// Printing.

TEST(UrlPrintTest, ToStringOmitsUserInfoToFullStringKeepsIt) {
  const std::string text = "dubbo://admin:hello1234@10.20.130.230:20880/context/path?version=1.0.0";
  URL url = MustParse(text);
  EXPECT_EQ(url.ToString(), "dubbo://10.20.130.230:20880/context/path?version=1.0.0");
  EXPECT_EQ(url.ToFullString(), text);
  URL user_only = MustParse("dubbo://user@h:1/p");
  EXPECT_EQ(user_only.ToString(), "dubbo://h:1/p");
  EXPECT_EQ(user_only.ToFullString(), "dubbo://user@h:1/p");
}

TEST(UrlPrintTest, ParametersSortedTrimmedEmptyKeysSkipped) {
  URL url("dubbo", "10.0.0.1", 20880, "com.foo.Bar",
          {{"version", " 1.0.0 "}, {"application", "demo"}, {"", "ignored"}, {"anyhost", "true"},
           {"empty", ""}});
  EXPECT_EQ(url.ToString(),
            "dubbo://10.0.0.1:20880/com.foo.Bar?anyhost=true&application=demo&empty=&version=1.0.0");
  EXPECT_EQ(URL("dubbo", "h", 1, "p", {{"", "x"}}).ToString(), "dubbo://h:1/p");
}

TEST(UrlPrintTest, PortOnlyWhenPositiveAndPathOnlyWhenNonEmpty) {
  EXPECT_EQ(URL("dubbo", "10.0.0.1", 0, "p").ToString(), "dubbo://10.0.0.1/p");
  EXPECT_EQ(URL("dubbo", "10.0.0.1", -3, "p").ToString(), "dubbo://10.0.0.1/p");
  EXPECT_EQ(URL("dubbo", "h", 1).ToString(), "dubbo://h:1");
  EXPECT_EQ(URL("dubbo", "h", 1, "", {{"a", "1"}}).ToString(), "dubbo://h:1?a=1");
  EXPECT_EQ(URL("dubbo", "[::1]", 20880, "p").ToString(), "dubbo://[::1]:20880/p");
  EXPECT_EQ(URL("dubbo", "[::1]", 0, "p").ToString(), "dubbo://[::1]/p");
}

TEST(UrlPrintTest, IdentityAndServiceStrings) {
  URL url = MustParse(
      "dubbo://admin:hello1234@10.20.130.230:20880/context/path?interface=com.foo.Bar&group=g&version=1.0.0");
  EXPECT_EQ(url.ToIdentityString(), "dubbo://admin:hello1234@10.20.130.230:20880/context/path");
  EXPECT_EQ(url.ToServiceString(), "dubbo://admin:hello1234@10.20.130.230:20880/g/com.foo.Bar:1.0.0");
  URL plain = MustParse("dubbo://10.0.0.1:20880/com.foo.Bar?version=1.0.0");
  EXPECT_EQ(plain.ToIdentityString(), "dubbo://10.0.0.1:20880/com.foo.Bar");
  EXPECT_EQ(plain.ToServiceString(), "dubbo://10.0.0.1:20880/com.foo.Bar:1.0.0");
  EXPECT_EQ(MustParse("dubbo://h:1?a=1").ToIdentityString(), "dubbo://h:1");
}

TEST(UrlPrintTest, StreamOperatorDoesNotLeakThePassword) {
  URL url = MustParse("dubbo://admin:hello1234@10.20.130.230:20880/context/path?version=1.0.0");
  std::ostringstream os;
  os << url;
  EXPECT_NE(os.str().find("10.20.130.230:20880/context/path"), std::string::npos) << os.str();
  EXPECT_EQ(os.str().find("hello1234"), std::string::npos) << os.str();
  EXPECT_EQ(os.str(), url.ToRedactedString());
}

TEST(UrlPrintTest, ToRedactedStringHidesSecretLookingValues) {
  URL url = MustParse(
      "nacos://nacos:pw@10.0.0.1:8848/x?password=p1&accessKey=ak&secretKey=sk&token=t&MyPassword=p2"
      "&namespace=dev&username=nacos&tokenized=yes");
  const std::string redacted = url.ToRedactedString();
  EXPECT_EQ(redacted,
            "nacos://10.0.0.1:8848/x?MyPassword=***&accessKey=***&namespace=dev&password=***"
            "&secretKey=***&token=***&tokenized=***&username=nacos");
  for (const char* secret : {"pw", "p1", "ak", "sk", "p2"}) {
    EXPECT_EQ(redacted.find(std::string("=") + secret), std::string::npos) << secret;
  }
  // Without secret-looking keys it is ToString().
  URL plain = MustParse("dubbo://u:pw@10.0.0.1:20880/com.foo.Bar?version=1.0.0&group=g");
  EXPECT_EQ(plain.ToRedactedString(), plain.ToString());
  // The URL itself is unchanged.
  EXPECT_EQ(url.GetParameter("password"), "p1");
}

// ---------------------------------------------------------------------------------------------------
// Encoding.

TEST(UrlEncodeTest, JavaUrlEncoderSemantics) {
  EXPECT_EQ(URL::Encode(""), "");
  EXPECT_EQ(URL::Encode("abcXYZ019.-*_"), "abcXYZ019.-*_");
  EXPECT_EQ(URL::Encode("a b"), "a+b");
  EXPECT_EQ(URL::Encode("~"), "%7E");
  EXPECT_EQ(URL::Encode("+"), "%2B");
  EXPECT_EQ(URL::Encode("%"), "%25");
  EXPECT_EQ(URL::Encode("\xC3\xA9"), "%C3%A9");          // é
  EXPECT_EQ(URL::Encode("\xE4\xB8\xAD"), "%E4%B8%AD");   // 中
  EXPECT_EQ(URL::Encode(std::string_view("\0\n\xff", 3)), "%00%0A%FF");
  EXPECT_EQ(URL::Encode("dubbo://h:1/p?a=1&b=2;c=x,y"),
            "dubbo%3A%2F%2Fh%3A1%2Fp%3Fa%3D1%26b%3D2%3Bc%3Dx%2Cy");
}

TEST(UrlEncodeTest, EveryByte) {
  for (int b = 0; b < 256; ++b) {
    const char c = static_cast<char>(b);
    std::string expected;
    if ((b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z') || (b >= '0' && b <= '9') || b == '.' ||
        b == '-' || b == '*' || b == '_') {
      expected = std::string(1, c);
    } else if (b == ' ') {
      expected = "+";
    } else {
      static const char kHex[] = "0123456789ABCDEF";
      expected = {'%', kHex[b >> 4], kHex[b & 15]};
    }
    EXPECT_EQ(URL::Encode(std::string_view(&c, 1)), expected) << "byte " << b;
    Result<std::string> back = URL::Decode(expected);
    ASSERT_TRUE(back.ok()) << "byte " << b << ": " << back.status();
    EXPECT_EQ(*back, std::string(1, c)) << "byte " << b;
  }
}

TEST(UrlEncodeTest, Decode) {
  auto decode = [](std::string_view s) {
    Result<std::string> r = URL::Decode(s);
    EXPECT_TRUE(r.ok()) << s << ": " << r.status();
    return r.value_or(std::string("<error>"));
  };
  EXPECT_EQ(decode(""), "");
  EXPECT_EQ(decode("abc"), "abc");
  EXPECT_EQ(decode("a+b"), "a b");
  EXPECT_EQ(decode("a%2Bb"), "a+b");
  EXPECT_EQ(decode("%41%42"), "AB");
  EXPECT_EQ(decode("%c3%a9"), "\xC3\xA9");  // lower-case hex is accepted
  EXPECT_EQ(decode("%C3%A9"), "\xC3\xA9");
  EXPECT_EQ(decode("~*"), "~*");
  EXPECT_EQ(decode("%00"), std::string(1, '\0'));
  EXPECT_EQ(decode("dubbo%3A%2F%2Fh%3A1%2Fp%3Fa%3D1%26b%3D2"), "dubbo://h:1/p?a=1&b=2");
}

TEST(UrlEncodeTest, InvalidEscapesAreErrors) {
  for (const char* bad : {"%", "%4", "abc%4", "%G1", "%1G", "%zz", "a%%41", "%-1", "% 1"}) {
    Result<std::string> r = URL::Decode(bad);
    EXPECT_FALSE(r.ok()) << bad << " decoded to " << r.value_or(std::string());
  }
}

TEST(UrlEncodeTest, RoundTripRandomBytes) {
  std::mt19937 rng(12345);
  std::uniform_int_distribution<int> byte(0, 255);
  std::uniform_int_distribution<int> len(0, 40);
  for (int i = 0; i < 2000; ++i) {
    std::string s(len(rng), '\0');
    for (char& c : s) c = static_cast<char>(byte(rng));
    std::string enc = URL::Encode(s);
    for (char c : enc) {
      ASSERT_TRUE(std::isalnum(static_cast<unsigned char>(c)) || std::string_view(".-*_+%").find(c) !=
                                                                      std::string_view::npos)
          << enc;
    }
    Result<std::string> dec = URL::Decode(enc);
    ASSERT_TRUE(dec.ok()) << dec.status();
    ASSERT_EQ(*dec, s);
  }
}

TEST(UrlEncodeTest, ParseEncoded) {
  const std::string provider =
      "dubbo://10.0.0.1:20880/com.foo.Bar?anyhost=true&application=demo&interface=com.foo.Bar"
      "&methods=sayHello,sayBye&version=1.0.0";
  const std::string encoded = URL::Encode(provider);
  EXPECT_EQ(encoded,
            "dubbo%3A%2F%2F10.0.0.1%3A20880%2Fcom.foo.Bar%3Fanyhost%3Dtrue%26application%3Ddemo"
            "%26interface%3Dcom.foo.Bar%26methods%3DsayHello%2CsayBye%26version%3D1.0.0");
  Result<URL> url = URL::ParseEncoded(encoded);
  ASSERT_TRUE(url.ok()) << url.status();
  ExpectSameUrl(*url, MustParse(provider));
  EXPECT_EQ(url->GetParameter("methods"), "sayHello,sayBye");
}

TEST(UrlEncodeTest, ParseEncodedFindsLowerCaseQueryMarkerAndDecodesParts) {
  Result<URL> url =
      URL::ParseEncoded("dubbo%3a%2f%2fu%40x:p%2Bw@10.0.0.1%3A20880%2Fa%2Fb%3fk%3Dv+1%26k2%3D%2526%3Bk3%3D");
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_EQ(url->protocol(), "dubbo");
  EXPECT_EQ(url->username(), "u@x");
  EXPECT_EQ(url->password(), "p+w");
  EXPECT_EQ(url->host(), "10.0.0.1");
  EXPECT_EQ(url->port(), 20880);
  EXPECT_EQ(url->path(), "a/b");
  EXPECT_EQ(url->parameters(), (Params{{"k", "v 1"}, {"k2", "%26"}, {"k3", ""}}));
}

// Encode() maps the first '?' to the first "%3F" and every separator to its escape, so ParseEncoded()
// of the encoded text must read exactly what Parse() reads from the text.
TEST(UrlEncodeTest, ParseEncodedOfEncodedTextEqualsParse) {
  for (const char* text :
       {"dubbo://admin:hello1234@10.20.130.230:20880/context/path?version=1.0.0",
        "dubbo://[fe80::1%en0]:20880/p", "dubbo://fe80:0:0:0:894:aeec:f37d:23e1%en0/p",
        "file:///home/u/r.js?type=script", "home/u/r.js", "10.0.0.1:20880", "file:/D:/1/router.js",
        "dubbo://h:1/p?a&b=&=c&d=e=f&g=1&g=2;h=3", "dubbo://h:1/p#frag?x=1", "dubbo://h:1/p?x=1#frag",
        "dubbo://h:1/p?a=1;b=2", "dubbo://h:1/p?default.timeout=5&x=a%20b+c",
        "dubbo://h:1/p?u=a?b&v=%3F%26"}) {
    SCOPED_TRACE(text);
    URL expected = MustParse(text);
    Result<URL> url = URL::ParseEncoded(URL::Encode(text));
    ASSERT_TRUE(url.ok()) << url.status();
    ExpectSameUrl(*url, expected);
  }
  for (const char* bad : {"dubbo://::1/p", "dubbo://h:/p", "://x", "dubbo://:pw@h/p", "dubbo://h:65536"}) {
    EXPECT_FALSE(URL::ParseEncoded(URL::Encode(bad)).ok()) << bad;
  }
}

// Shapes whose reading url.h leaves open: whatever Parse() answers, ParseEncoded() of the encoded text
// must answer the same.
TEST(UrlEncodeTest, ParseEncodedAgreesWithParseOnOpenShapes) {
  for (const char* text : {"?a=1", "?", "#x", "dubbo://h:1/p ?a=1", "dubbo://h:1/p?=c=d&==e",
                           "dubbo://h:1 /p", "dubbo://u @h:1/p"}) {
    SCOPED_TRACE(text);
    Result<URL> parsed = URL::Parse(text);
    Result<URL> encoded = URL::ParseEncoded(URL::Encode(text));
    EXPECT_EQ(parsed.ok(), encoded.ok()) << "Parse: " << parsed.status()
                                         << " ParseEncoded: " << encoded.status();
    if (parsed.ok() && encoded.ok()) ExpectSameUrl(*encoded, *parsed);
  }
}

TEST(UrlEncodeTest, ParseEncodedWithoutQuery) {
  Result<URL> url = URL::ParseEncoded("dubbo%3A%2F%2F%5B%3A%3A1%5D%3A20880%2Fcom.foo.Bar");
  ASSERT_TRUE(url.ok()) << url.status();
  EXPECT_EQ(url->host(), "[::1]");
  EXPECT_EQ(url->port(), 20880);
  EXPECT_EQ(url->path(), "com.foo.Bar");
  EXPECT_TRUE(url->parameters().empty());
}

TEST(UrlEncodeTest, ParseEncodedErrors) {
  EXPECT_FALSE(URL::ParseEncoded("").ok());
  EXPECT_FALSE(URL::ParseEncoded("%3A%2F%2Fh").ok());               // missing protocol
  EXPECT_FALSE(URL::ParseEncoded("dubbo%3A%2F%2Fh%3Aabc").ok());    // bad port
  EXPECT_FALSE(URL::ParseEncoded("dubbo%3A%2F%2Fh%3A1%2Fp%3Fk%3D%G").ok());  // bad escape
  EXPECT_FALSE(URL::ParseEncoded("dubbo%3A%2F%2Fh%3A1%2Fp%3Fk%3D%4").ok());  // truncated escape
  EXPECT_FALSE(URL::ParseEncoded("dubbo%3A%2F%2Fh%ZZ%3A1").ok());   // bad escape in the body
}

// The registry URL carries the provider URL in `export=`: Parse() leaves it encoded, ParseEncoded()
// reads it.
TEST(UrlEncodeTest, NestedExportParameter) {
  URL provider = MustParse(
      "dubbo://10.0.0.1:20880/com.foo.Bar?application=demo&group=g&methods=a,b&version=1.0.0"
      "&note=x%26y");
  URL registry = MustParse("registry://127.0.0.1:8848/org.apache.dubbo.registry.RegistryService"
                           "?application=demo&export=" +
                           URL::Encode(provider.ToFullString()) + "&registry=nacos");
  EXPECT_EQ(registry.GetParameter("registry"), "nacos");
  Result<URL> exported = URL::ParseEncoded(registry.GetParameter("export"));
  ASSERT_TRUE(exported.ok()) << exported.status();
  ExpectSameUrl(*exported, provider);
  EXPECT_EQ(exported->GetParameter("note"), "x%26y");
}

// ---------------------------------------------------------------------------------------------------
// URL::Empty.

TEST(UrlEmptyTest, SpecExample) {
  URL url = URL::Empty("g/com.foo.Bar:1.0", "providers");
  EXPECT_EQ(url.ToString(), "empty://0.0.0.0/com.foo.Bar?category=providers&group=g&version=1.0");
  EXPECT_EQ(url.ToFullString(), "empty://0.0.0.0/com.foo.Bar?category=providers&group=g&version=1.0");
  EXPECT_EQ(url.protocol(), "empty");
  EXPECT_EQ(url.host(), "0.0.0.0");
  EXPECT_EQ(url.port(), 0);
  EXPECT_EQ(url.path(), "com.foo.Bar");
  EXPECT_TRUE(url.IsEmptyProtocol());
  EXPECT_TRUE(url.IsAnyHost());
  EXPECT_EQ(url.ServiceKey(), "g/com.foo.Bar:1.0");
  EXPECT_EQ(url.Category(), "providers");
}

TEST(UrlEmptyTest, OptionalParts) {
  EXPECT_EQ(URL::Empty("com.foo.Bar", "providers").ToString(),
            "empty://0.0.0.0/com.foo.Bar?category=providers");
  EXPECT_EQ(URL::Empty("com.foo.Bar:1.0", "routers").ToString(),
            "empty://0.0.0.0/com.foo.Bar?category=routers&version=1.0");
  EXPECT_EQ(URL::Empty("g/com.foo.Bar", "configurators").ToString(),
            "empty://0.0.0.0/com.foo.Bar?category=configurators&group=g");
}

// ---------------------------------------------------------------------------------------------------
// Equality and hashing.

TEST(UrlEqualityTest, TimestampValueIgnoredPresenceCounts) {
  URL a = MustParse("dubbo://h:1/p?a=1&timestamp=100");
  URL b = MustParse("dubbo://h:1/p?a=1&timestamp=200");
  URL c = MustParse("dubbo://h:1/p?a=1");
  EXPECT_TRUE(a == b);
  EXPECT_FALSE(a != b);
  EXPECT_EQ(a.Hash(), b.Hash());
  EXPECT_EQ(std::hash<URL>()(a), std::hash<URL>()(b));
  EXPECT_FALSE(a == c);
  EXPECT_TRUE(a != c);
  EXPECT_FALSE(c == a);
  EXPECT_TRUE(MustParse("dubbo://h:1/p?timestamp=") == MustParse("dubbo://h:1/p?timestamp=5"));
}

TEST(UrlEqualityTest, ParameterOrderIrrelevant) {
  URL a = MustParse("dubbo://h:1/p?a=1&b=2");
  URL b = MustParse("dubbo://h:1/p?b=2&a=1");
  EXPECT_EQ(a, b);
  EXPECT_EQ(a.Hash(), b.Hash());
  EXPECT_EQ(URL("dubbo", "h", 1, "p", {{"b", "2"}, {"a", "1"}}), a);
  EXPECT_EQ(URL("dubbo", "h", 1, "/p", {{"b", "2"}, {"a", "1"}}).Hash(), a.Hash());
}

TEST(UrlEqualityTest, EveryPartCounts) {
  URL base = MustParse("dubbo://u:pw@h:1/p?a=1");
  EXPECT_EQ(base, MustParse("dubbo://u:pw@h:1/p?a=1"));
  EXPECT_EQ(base.Hash(), MustParse("dubbo://u:pw@h:1/p?a=1").Hash());
  for (const char* other :
       {"tri://u:pw@h:1/p?a=1", "dubbo://v:pw@h:1/p?a=1", "dubbo://u:px@h:1/p?a=1", "dubbo://u@h:1/p?a=1",
        "dubbo://u:pw@g:1/p?a=1", "dubbo://u:pw@h:2/p?a=1", "dubbo://u:pw@h/p?a=1", "dubbo://u:pw@h:1/q?a=1",
        "dubbo://u:pw@h:1/p?a=2", "dubbo://u:pw@h:1/p?a=", "dubbo://u:pw@h:1/p?b=1",
        "dubbo://u:pw@h:1/p?a=1&b=", "dubbo://u:pw@h:1/p", "dubbo://h:1/p?a=1"}) {
    URL o = MustParse(other);
    EXPECT_NE(base, o) << other;
    EXPECT_NE(o, base) << other;
  }
}

TEST(UrlEqualityTest, CopiesShareAndCompareEqual) {
  URL a = MustParse("dubbo://u:pw@h:1/p?a=1&timestamp=5");
  URL b = a;
  URL c(std::move(b));
  EXPECT_EQ(a, c);
  EXPECT_EQ(a.Hash(), c.Hash());
  EXPECT_EQ(a, a);
}

TEST(UrlEqualityTest, UnorderedSet) {
  std::unordered_set<URL> set;
  set.insert(MustParse("dubbo://h:1/p?a=1&timestamp=1"));
  set.insert(MustParse("dubbo://h:1/p?timestamp=2&a=1"));
  set.insert(MustParse("dubbo://h:1/p?a=1"));
  set.insert(MustParse("dubbo://h:2/p?a=1"));
  EXPECT_EQ(set.size(), 3u);
  EXPECT_EQ(set.count(MustParse("dubbo://h:1/p?a=1&timestamp=99")), 1u);
}

// ---------------------------------------------------------------------------------------------------
// Builders.

TEST(UrlBuilderTest, BuildersLeaveTheOriginalUnchanged) {
  const std::string text = "dubbo://u:pw@10.0.0.1:20880/com.foo.Bar?a=1&b=2&version=1.0.0";
  URL base = MustParse(text);
  const URL snapshot = base;

  URL p = base.WithProtocol("tri");
  EXPECT_EQ(p.protocol(), "tri");
  URL u = base.WithUsername("admin");
  EXPECT_EQ(u.username(), "admin");
  EXPECT_EQ(u.password(), "pw");
  URL pw = base.WithPassword("secret");
  EXPECT_EQ(pw.password(), "secret");
  EXPECT_EQ(pw.username(), "u");
  URL h = base.WithHost("10.0.0.9");
  EXPECT_EQ(h.host(), "10.0.0.9");
  EXPECT_EQ(h.port(), 20880);
  URL port = base.WithPort(1234);
  EXPECT_EQ(port.port(), 1234);
  EXPECT_EQ(base.WithPort(-1).port(), 0);
  URL path = base.WithPath("/x/y");
  EXPECT_EQ(path.path(), "x/y");
  URL param = base.WithParameter("version", "2.0.0");
  EXPECT_EQ(param.GetParameter("version"), "2.0.0");
  URL added = base.WithParameter("c", "3");
  EXPECT_EQ(added.parameters(), (Params{{"a", "1"}, {"b", "2"}, {"c", "3"}, {"version", "1.0.0"}}));
  URL if_absent = base.WithParameterIfAbsent("version", "9").WithParameterIfAbsent("group", "g");
  EXPECT_EQ(if_absent.GetParameter("version"), "1.0.0");
  EXPECT_EQ(if_absent.GetParameter("group"), "g");
  URL many = base.WithParameters({{"version", "3"}, {"z", "26"}, {"a", "11"}});
  EXPECT_EQ(many.parameters(),
            (Params{{"a", "11"}, {"b", "2"}, {"version", "3"}, {"z", "26"}}));
  URL without = base.WithoutParameter("version");
  EXPECT_EQ(without.parameters(), (Params{{"a", "1"}, {"b", "2"}}));
  EXPECT_EQ(base.WithoutParameter("missing"), base);
  URL without_many = base.WithoutParameters({"a", "b", "missing"});
  EXPECT_EQ(without_many.parameters(), (Params{{"version", "1.0.0"}}));
  URL none = base.WithoutAllParameters();
  EXPECT_TRUE(none.parameters().empty());
  EXPECT_EQ(none.ToFullString(), "dubbo://u:pw@10.0.0.1:20880/com.foo.Bar");

  ExpectSameUrl(base, snapshot);
  EXPECT_EQ(base.ToFullString(), text);
  EXPECT_EQ(snapshot.ToFullString(), text);
}

TEST(UrlBuilderTest, WithAddress) {
  URL base = MustParse("dubbo://10.0.0.1:20880/p");
  URL a = base.WithAddress("10.0.0.9:7777");
  EXPECT_EQ(a.host(), "10.0.0.9");
  EXPECT_EQ(a.port(), 7777);
  URL v6 = base.WithAddress("[::1]:9");
  EXPECT_EQ(v6.host(), "[::1]");
  EXPECT_EQ(v6.port(), 9);
  EXPECT_EQ(base.WithAddress("h:abc").port(), 0);
  EXPECT_EQ(base.WithAddress("h:99999").port(), 0);
  EXPECT_EQ(base.host(), "10.0.0.1");
  EXPECT_EQ(base.port(), 20880);
}

TEST(UrlBuilderTest, ChainedBuildersCompareEqualToParsed) {
  URL built = URL()
                  .WithProtocol("dubbo")
                  .WithHost("10.0.0.1")
                  .WithPort(20880)
                  .WithPath("com.foo.Bar")
                  .WithParameter("version", "1.0.0")
                  .WithParameter("group", "g");
  URL parsed = MustParse("dubbo://10.0.0.1:20880/com.foo.Bar?group=g&version=1.0.0");
  ExpectSameUrl(built, parsed);
  EXPECT_EQ(built.Hash(), parsed.Hash());
}

// ---------------------------------------------------------------------------------------------------
// Matching.

URL Consumer(const std::string& query) {
  return MustParse("consumer://10.0.0.2/com.foo.Bar" + (query.empty() ? "" : "?" + query));
}
URL Provider(const std::string& query) {
  return MustParse("dubbo://10.0.0.1:20880/com.foo.Bar" + (query.empty() ? "" : "?" + query));
}

TEST(UrlMatchTest, RuleInterface) {
  EXPECT_TRUE(IsMatch(Consumer(""), Provider("")));
  EXPECT_TRUE(IsMatch(Consumer(""), Provider("interface=com.foo.Bar")));
  EXPECT_FALSE(IsMatch(Consumer(""), MustParse("dubbo://10.0.0.1:20880/com.foo.Baz")));
  EXPECT_FALSE(IsMatch(Consumer(""), Provider("interface=com.foo.Baz")));
  EXPECT_TRUE(IsMatch(MustParse("consumer://10.0.0.2/x?interface=com.foo.Bar"), Provider("")));
  EXPECT_TRUE(IsMatch(MustParse("consumer://10.0.0.2/*?interface=*"),
                      MustParse("dubbo://10.0.0.1:20880/com.foo.Baz")));
  EXPECT_TRUE(IsMatch(MustParse("consumer://10.0.0.2/*"), MustParse("dubbo://10.0.0.1:20880/com.foo.Baz")));
  EXPECT_TRUE(IsMatch(Consumer(""), MustParse("override://0.0.0.0/*")));
  EXPECT_TRUE(IsMatch(Consumer(""), MustParse("override://0.0.0.0/x?interface=*")));
}

TEST(UrlMatchTest, RuleCategory) {
  EXPECT_TRUE(IsMatch(Consumer(""), Provider("category=providers")));
  EXPECT_TRUE(IsMatch(Consumer("category=providers"), Provider("")));
  EXPECT_FALSE(IsMatch(Consumer(""), Provider("category=routers")));
  EXPECT_FALSE(IsMatch(Consumer("category=providers"), Provider("category=configurators")));
  const std::string all = "category=providers,configurators,routers";
  EXPECT_TRUE(IsMatch(Consumer(all), Provider("category=routers")));
  EXPECT_TRUE(IsMatch(Consumer(all), Provider("category=configurators")));
  EXPECT_TRUE(IsMatch(Consumer(all), Provider("")));
  EXPECT_FALSE(IsMatch(Consumer(all), Provider("category=consumers")));
  EXPECT_TRUE(IsMatch(Consumer("category=*"), Provider("category=consumers")));
  EXPECT_TRUE(IsMatch(Consumer("category=-routers"), Provider("")));
  EXPECT_TRUE(IsMatch(Consumer("category=-routers"), Provider("category=consumers")));
  EXPECT_FALSE(IsMatch(Consumer("category=-routers"), Provider("category=routers")));
}

TEST(UrlMatchTest, RuleEnabled) {
  EXPECT_FALSE(IsMatch(Consumer(""), Provider("enabled=false")));
  EXPECT_FALSE(IsMatch(Consumer(""), Provider("enabled=FALSE")));
  EXPECT_FALSE(IsMatch(Consumer("enabled=true"), Provider("enabled=false")));
  EXPECT_FALSE(IsMatch(Consumer("enabled=false"), Provider("enabled=false")));
  EXPECT_TRUE(IsMatch(Consumer("enabled=*"), Provider("enabled=false")));
  EXPECT_TRUE(IsMatch(Consumer(""), Provider("enabled=true")));
  EXPECT_TRUE(IsMatch(Consumer(""), Provider("enabled=")));
  EXPECT_TRUE(IsMatch(Consumer("enabled=*"), Provider("enabled=true")));
  EXPECT_TRUE(IsMatch(Consumer("enabled=false"), Provider("")));  // only the provider's flag counts
}

TEST(UrlMatchTest, RuleGroup) {
  EXPECT_TRUE(IsMatch(Consumer("group=*"), Provider("group=a")));
  EXPECT_TRUE(IsMatch(Consumer("group=*"), Provider("")));
  EXPECT_TRUE(IsMatch(Consumer("group=a"), Provider("group=a")));
  EXPECT_FALSE(IsMatch(Consumer("group=a"), Provider("group=b")));
  EXPECT_FALSE(IsMatch(Consumer("group=a"), Provider("")));
  EXPECT_FALSE(IsMatch(Consumer(""), Provider("group=a")));
  EXPECT_TRUE(IsMatch(Consumer(""), Provider("")));
  EXPECT_TRUE(IsMatch(Consumer("group=a,b,c"), Provider("group=a")));
  EXPECT_TRUE(IsMatch(Consumer("group=a,b,c"), Provider("group=b")));
  EXPECT_TRUE(IsMatch(Consumer("group=a,b,c"), Provider("group=c")));
  EXPECT_FALSE(IsMatch(Consumer("group=a,b,c"), Provider("group=d")));
  EXPECT_FALSE(IsMatch(Consumer("group=a,b,c"), Provider("group=b,c")));  // element, not substring
  EXPECT_FALSE(IsMatch(Consumer("group=ab,c"), Provider("group=a")));
  EXPECT_FALSE(IsMatch(Consumer("group=a,b,c"), Provider("")));
}

TEST(UrlMatchTest, RuleVersion) {
  EXPECT_TRUE(IsMatch(Consumer("version=*"), Provider("version=1.0")));
  EXPECT_TRUE(IsMatch(Consumer("version=*"), Provider("")));
  EXPECT_TRUE(IsMatch(Consumer("version=1.0"), Provider("version=1.0")));
  EXPECT_FALSE(IsMatch(Consumer("version=1.0"), Provider("version=2.0")));
  EXPECT_FALSE(IsMatch(Consumer("version=1.0"), Provider("")));
  EXPECT_FALSE(IsMatch(Consumer(""), Provider("version=1.0")));  // absent does not match a versioned one
  EXPECT_TRUE(IsMatch(Consumer(""), Provider("")));
  EXPECT_FALSE(IsMatch(Consumer("version=1.0,2.0"), Provider("version=1.0")));  // no lists for versions
}

TEST(UrlMatchTest, RuleClassifier) {
  EXPECT_TRUE(IsMatch(Consumer(""), Provider("classifier=c")));
  EXPECT_TRUE(IsMatch(Consumer("classifier=*"), Provider("classifier=c")));
  EXPECT_TRUE(IsMatch(Consumer("classifier=*"), Provider("")));
  EXPECT_TRUE(IsMatch(Consumer("classifier=c"), Provider("classifier=c")));
  EXPECT_FALSE(IsMatch(Consumer("classifier=c"), Provider("classifier=d")));
  EXPECT_FALSE(IsMatch(Consumer("classifier=c"), Provider("")));
}

TEST(UrlMatchTest, AllRulesTogether) {
  URL consumer = Consumer("category=providers,configurators,routers&group=a,b&version=1.0&classifier=x");
  EXPECT_TRUE(IsMatch(consumer, Provider("group=b&version=1.0&classifier=x&category=routers")));
  EXPECT_FALSE(IsMatch(consumer, Provider("group=b&version=1.0&classifier=y")));
  EXPECT_FALSE(IsMatch(consumer, Provider("group=c&version=1.0&classifier=x")));
  EXPECT_FALSE(IsMatch(consumer, Provider("group=a&version=1.1&classifier=x")));
  EXPECT_FALSE(IsMatch(consumer, Provider("group=a&version=1.0&classifier=x&enabled=false")));
  EXPECT_FALSE(IsMatch(consumer, Provider("group=a&version=1.0&classifier=x&category=consumers")));
  EXPECT_TRUE(IsMatch(consumer, Provider("group=a&version=1.0&classifier=x")));
}

TEST(UrlMatchTest, IsMatchCategory) {
  EXPECT_TRUE(IsMatchCategory("providers", ""));
  EXPECT_FALSE(IsMatchCategory("routers", ""));
  EXPECT_FALSE(IsMatchCategory("consumers", ""));
  EXPECT_TRUE(IsMatchCategory("routers", "*"));
  EXPECT_TRUE(IsMatchCategory("anything", "providers,*"));
  EXPECT_TRUE(IsMatchCategory("providers", "-routers"));
  EXPECT_FALSE(IsMatchCategory("routers", "-routers"));
  EXPECT_TRUE(IsMatchCategory("configurators", "providers,-routers"));
  EXPECT_FALSE(IsMatchCategory("routers", "providers,-routers"));
  EXPECT_TRUE(IsMatchCategory("routers", "providers,routers"));
  EXPECT_TRUE(IsMatchCategory("providers", "providers,routers"));
  EXPECT_FALSE(IsMatchCategory("consumers", "providers,routers"));
  EXPECT_TRUE(IsMatchCategory("router", "routers"));  // Dubbo's substring test
  EXPECT_TRUE(IsMatchCategory("providers", "providers"));
  EXPECT_FALSE(IsMatchCategory("configurators", "providers"));
}

TEST(UrlMatchTest, Classification) {
  URL override_cat = MustParse("override://0.0.0.0/com.foo.Bar?category=configurators&timeout=1");
  EXPECT_TRUE(IsConfigurator(override_cat));
  EXPECT_FALSE(IsRoute(override_cat));
  EXPECT_FALSE(IsProvider(override_cat));

  URL override_plain = MustParse("override://0.0.0.0/com.foo.Bar?timeout=1");
  EXPECT_TRUE(IsConfigurator(override_plain));
  EXPECT_FALSE(IsRoute(override_plain));
  EXPECT_FALSE(IsProvider(override_plain));

  URL configurators = MustParse("dubbo://0.0.0.0/com.foo.Bar?category=configurators");
  EXPECT_TRUE(IsConfigurator(configurators));
  EXPECT_FALSE(IsProvider(configurators));

  URL route_cat = MustParse("route://0.0.0.0/com.foo.Bar?category=routers&rule=x");
  EXPECT_TRUE(IsRoute(route_cat));
  EXPECT_FALSE(IsConfigurator(route_cat));
  EXPECT_FALSE(IsProvider(route_cat));

  URL route_plain = MustParse("route://0.0.0.0/com.foo.Bar");
  EXPECT_TRUE(IsRoute(route_plain));
  EXPECT_FALSE(IsProvider(route_plain));

  URL routers = MustParse("condition://0.0.0.0/com.foo.Bar?category=routers");
  EXPECT_TRUE(IsRoute(routers));
  EXPECT_FALSE(IsProvider(routers));

  URL provider = Provider("");
  EXPECT_TRUE(IsProvider(provider));
  EXPECT_FALSE(IsConfigurator(provider));
  EXPECT_FALSE(IsRoute(provider));
  EXPECT_TRUE(IsProvider(Provider("category=providers")));

  URL consumer = Provider("category=consumers");
  EXPECT_FALSE(IsProvider(consumer));
  EXPECT_FALSE(IsConfigurator(consumer));
  EXPECT_FALSE(IsRoute(consumer));

  EXPECT_TRUE(IsProvider(URL::Empty("com.foo.Bar", "providers")));
  EXPECT_FALSE(IsProvider(URL::Empty("com.foo.Bar", "routers")));
  EXPECT_TRUE(IsRoute(URL::Empty("com.foo.Bar", "routers")));
  EXPECT_TRUE(IsConfigurator(URL::Empty("com.foo.Bar", "configurators")));
}

// ---------------------------------------------------------------------------------------------------
// Round-trip property: random URLs print and parse back to themselves.

class RandomUrls {
 public:
  explicit RandomUrls(uint32_t seed) : rng_(seed) {}

  // `punctuation` widens the value alphabet with characters Parse() must carry through untouched in a
  // value (everything but the pair separators '&' and ';', and no surrounding spaces).
  URL Next(bool punctuation) {
    static const char* const kProtocols[] = {"dubbo", "tri",   "rest",     "grpc",   "consumer",
                                              "provider", "empty", "override", "route", "nacos",
                                              "registry", "file", "http", "x-proto", "zookeeper"};
    std::string protocol = kProtocols[Uniform(0, std::size(kProtocols) - 1)];
    std::string user, password;
    if (Uniform(0, 2) == 0) {
      user = Word(kUserChars, 1, 8);
      if (Uniform(0, 1) == 0) password = Word(kUserChars, 1, 10);
    }
    std::string host = Host();
    int port = 0;
    switch (Uniform(0, 4)) {
      case 0: break;
      case 1: port = static_cast<int>(Uniform(1, 1024)); break;
      case 2: port = 65535; break;
      default: port = static_cast<int>(Uniform(1, 65535)); break;
    }
    std::string path;
    for (size_t i = 0, n = Uniform(0, 4); i < n; ++i) {
      if (i) path += '/';
      path += Word(kPathChars, 1, 12);
    }
    std::map<std::string, std::string> params;
    for (size_t i = 0, n = Uniform(0, 10); i < n; ++i) {
      std::string key = Word(kLetters, 1, 1) + Word(kKeyChars, 0, 12);
      if (key.rfind("default.", 0) == 0) continue;  // would also set the unprefixed key
      params[key] = punctuation ? PunctValue() : Word(kValueChars, 0, 16);
    }
    if (Uniform(0, 3) == 0) params["timestamp"] = std::to_string(Uniform(0, 1u << 30));
    return URL(protocol, host, port, path, Params(params.begin(), params.end()))
        .WithUsername(user)
        .WithPassword(password);
  }

 private:
  static constexpr std::string_view kLetters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
  static constexpr std::string_view kUserChars =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._~-";
  static constexpr std::string_view kPathChars =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-$";
  static constexpr std::string_view kKeyChars =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-";
  static constexpr std::string_view kValueChars =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-*,:/@";
  static constexpr std::string_view kPunctChars =
      "abcXYZ019._-*,:/@ ?#%+=!$'()[]~{}|^\"<>\\`\xC3\xA9";

  size_t Uniform(size_t lo, size_t hi) { return std::uniform_int_distribution<size_t>(lo, hi)(rng_); }

  std::string Word(std::string_view alphabet, size_t min_len, size_t max_len) {
    std::string s(Uniform(min_len, max_len), 'x');
    for (char& c : s) c = alphabet[Uniform(0, alphabet.size() - 1)];
    return s;
  }

  std::string PunctValue() {
    std::string v = Word(kPunctChars, 0, 16);
    if (!v.empty() && v.front() == ' ') v.front() = 'a';
    if (!v.empty() && v.back() == ' ') v.back() = 'z';
    return v;
  }

  std::string Host() {
    switch (Uniform(0, 5)) {
      case 0:
        return std::to_string(Uniform(1, 255)) + "." + std::to_string(Uniform(0, 255)) + "." +
               std::to_string(Uniform(0, 255)) + "." + std::to_string(Uniform(0, 255));
      case 1: {
        std::string h;
        for (size_t i = 0, n = Uniform(1, 4); i < n; ++i) {
          if (i) h += '.';
          h += Word("abcdefghijklmnopqrstuvwxyz0123456789", 1, 10);
        }
        return h;
      }
      case 2: {
        static const char* const kV6[] = {"[::1]", "[::]", "[fe80::1%en0]", "[2001:db8::1]",
                                          "[fe80:0:0:0:894:aeec:f37d:23e1]"};
        return kV6[Uniform(0, std::size(kV6) - 1)];
      }
      case 3: {
        std::string h = "[2001:db8";
        for (size_t i = 0, n = Uniform(1, 6); i < n; ++i) h += ":" + Word("0123456789abcdef", 1, 4);
        return h + "]";
      }
      case 4: return "0.0.0.0";
      default: return "localhost";
    }
  }

  std::mt19937 rng_;
};

// Failed assertions so far in the running test (to stop a property test after a few counterexamples).
int FailureCount() {
  return ::testing::UnitTest::GetInstance()->current_test_info()->result()->total_part_count();
}

void CheckRoundTrip(const URL& url) {
  const std::string full = url.ToFullString();
  SCOPED_TRACE(full);
  Result<URL> parsed = URL::Parse(full);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ExpectSameUrl(*parsed, url);
  EXPECT_EQ(parsed->Hash(), url.Hash());
  EXPECT_EQ(parsed->ToFullString(), full);
  EXPECT_EQ(parsed->ToString(), url.ToString());

  const std::string encoded = URL::Encode(full);
  Result<std::string> decoded = URL::Decode(encoded);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, full);
  Result<URL> from_encoded = URL::ParseEncoded(encoded);
  ASSERT_TRUE(from_encoded.ok()) << encoded << ": " << from_encoded.status();
  ExpectSameUrl(*from_encoded, url);
}

TEST(UrlPropertyTest, RandomUrlsRoundTrip) {
  RandomUrls gen(20240611);
  for (int i = 0; i < 3000 && FailureCount() < 30; ++i) CheckRoundTrip(gen.Next(/*punctuation=*/false));
}

TEST(UrlPropertyTest, RandomUrlsWithPunctuationInValuesRoundTrip) {
  RandomUrls gen(7);
  for (int i = 0; i < 2000 && FailureCount() < 30; ++i) CheckRoundTrip(gen.Next(/*punctuation=*/true));
}

TEST(UrlPropertyTest, RandomUrlsMatchThemselves) {
  RandomUrls gen(99);
  for (int i = 0; i < 500; ++i) {
    URL url = gen.Next(false);
    URL copy = url;
    ASSERT_EQ(url, copy);
    ASSERT_EQ(url.Hash(), copy.Hash());
    // A provider-category URL always matches itself; enabled is never set by the generator.
    ASSERT_TRUE(IsMatch(url, url)) << url.ToFullString();
  }
}

}  // namespace
}  // namespace dubbo::registry
