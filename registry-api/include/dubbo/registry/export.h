// File: dubbo/registry/export.h
//
// DUBBO_REGISTRY_EXPORT marks the declarations that make up this project's API: classes (with their
// vtables and type information) and free functions. The libraries are compiled with hidden symbol
// visibility, so a shared build exports exactly the marked declarations and nothing of the
// internals; in a static build the mark changes nothing.
//
// DUBBO_REGISTRY_NO_EXPORT keeps a member class of an exported class hidden (a nested class takes
// its enclosing class's visibility): the forward-declared `struct Impl;` of a pimpl, whose members
// are defined inside the library and are no part of the API.
//
// Both are standard attribute specifiers, so they go where `[[nodiscard]]` goes: first in a
// function declaration, and after `class`/`struct` (after any `[[...]]` or `alignas`) in a class
// declaration:
//
//   class [[nodiscard]] DUBBO_REGISTRY_EXPORT Status { ... struct DUBBO_REGISTRY_NO_EXPORT Rep; };
//   DUBBO_REGISTRY_EXPORT Status Parse(std::string_view text);
//
// Thread-safety: macros only.
#ifndef DUBBO_REGISTRY_EXPORT_H_
#define DUBBO_REGISTRY_EXPORT_H_

#if defined(__GNUC__) || defined(__clang__)
#define DUBBO_REGISTRY_EXPORT [[gnu::visibility("default")]]
#define DUBBO_REGISTRY_NO_EXPORT [[gnu::visibility("hidden")]]
#else
#define DUBBO_REGISTRY_EXPORT
#define DUBBO_REGISTRY_NO_EXPORT
#endif

#endif  // DUBBO_REGISTRY_EXPORT_H_
