#include "base/allocator.h"

#include <dlfcn.h>

#include <cstddef>
#if defined(__GLIBC__)
#include <gnu/libc-version.h>
#endif

namespace aiot {

std::string AllocatorName() {
  // jemalloc's control interface; Debian's libjemalloc2 exports it unprefixed. Looked up rather
  // than called, so this file links without jemalloc (AIOT_MALLOC=system, sanitizer builds).
  using MallctlFn = int (*)(const char*, void*, size_t*, void*, size_t);
  if (auto* mallctl = reinterpret_cast<MallctlFn>(dlsym(RTLD_DEFAULT, "mallctl"))) {
    const char* version = nullptr;
    size_t size = sizeof(version);
    if (mallctl("version", &version, &size, nullptr, 0) == 0 && version != nullptr) {
      return std::string("jemalloc ") + version;
    }
  }
#if defined(__GLIBC__)
  return std::string("glibc ") + gnu_get_libc_version();
#else
  return "system";
#endif
}

}  // namespace aiot
