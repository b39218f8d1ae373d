// jemalloc's defaults for the aiot binary (AIOT_MALLOC=jemalloc; cmake/malloc.cmake adds this file
// only then). jemalloc reads this symbol when it starts, then MALLOC_CONF, which overrides any of
// these options (docs/operations.md, "Memory allocator").
//
// With jemalloc's own defaults `aiot up --simulate 50` held 54.6 MB resident after 30 s against
// glibc's 37.7 MB (+45 %, BENCHMARKS.md "The allocator"): freed pages stay dirty for 10 s and are
// purged only when an arena allocates again. A background thread purges on time, and a shorter
// dirty decay with no muzzy stage returns them sooner: 42.4 MB, at no cost in the bridge benchmark.
extern "C" {
// NOLINTNEXTLINE: the name and type are jemalloc's interface.
extern const char* malloc_conf;
const char* malloc_conf = "background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0";
}
