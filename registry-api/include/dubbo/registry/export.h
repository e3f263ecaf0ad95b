// File: dubbo/registry/export.h
//
// DUBBO_REGISTRY_EXPORT marks the declarations that make up this project's API: classes (with their
// vtables and type information) and free functions. The libraries are compiled with hidden symbol
// visibility, so a shared build exports exactly the marked declarations and nothing of the
// internals; in a static build the mark changes nothing.
//
// Thread-safety: macros only.
#ifndef DUBBO_REGISTRY_EXPORT_H_
#define DUBBO_REGISTRY_EXPORT_H_

#if defined(__GNUC__) || defined(__clang__)
#define DUBBO_REGISTRY_EXPORT __attribute__((visibility("default")))
#else
#define DUBBO_REGISTRY_EXPORT
#endif

#endif  // DUBBO_REGISTRY_EXPORT_H_
