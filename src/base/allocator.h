#pragma once
// The allocator the running process really uses (AIOT_MALLOC, cmake/malloc.cmake): asked at run
// time, not taken from the build's settings, so that a link that silently dropped jemalloc shows.
#include <string>

namespace aiot {

// "jemalloc <version>" when jemalloc's mallctl() is in the process and answers "version"; otherwise
// "glibc <version>" (or "system" on another libc).
std::string AllocatorName();

}  // namespace aiot
