// The demo service: small on purpose. A consumer calls Greet() and learns which provider answered.
namespace cpp dubbo.demo

struct Greeting {
  1: string message,      // "hello, <name>"
  2: string provider,     // The answering provider's "host:port".
  3: i32 weight,          // Its registered weight.
}

exception DemoError {
  1: string reason,
}

service Greeter {
  // Answers from whichever provider the consumer picked. Throws DemoError for an empty name (an
  // application error: a consumer must not retry it on another provider).
  Greeting Greet(1: string name) throws (1: DemoError error),
}
