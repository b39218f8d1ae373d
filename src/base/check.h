#pragma once

#include <cstdio>
#include <cstdlib>

// AIOT_CHECK(cond, fmt, ...): an invariant. On failure it prints where and why to stderr and
// aborts. Never compiled out. Uses printf-style formatting so that it also builds for
// microcontrollers (no iostreams, no exceptions, no allocation).
#define AIOT_CHECK(cond, ...)                                                       \
  do {                                                                              \
    if (__builtin_expect(!(cond), 0)) {                                             \
      std::fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
      std::fprintf(stderr, __VA_ARGS__);                                            \
      std::fputc('\n', stderr);                                                     \
      std::abort();                                                                 \
    }                                                                               \
  } while (0)
