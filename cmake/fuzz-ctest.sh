#!/bin/sh
# The ctest of one libFuzzer target (cmake/aiot.cmake aiot_fuzz):
#   fuzz-ctest.sh TARGET WORKDIR RUNS SEED_CORPUS
# By default a deterministic, bounded run: a fresh scratch corpus (WORKDIR.ci), then the seed
# corpus, -seed=1 and -runs=RUNS executions in all (seed inputs included). The same tree and
# compiler give the same inputs in the same order, so the same result, on every machine (two runs
# of pipeline_cron_fuzz end with the same coverage, features and corpus; see below for what that
# takes).
# AIOT_FUZZ_SECONDS=S explores instead (scripts/fuzz.sh): S seconds, a seed from the clock, and
# WORKDIR kept between runs so that what one run found is where the next one starts. Either way an
# input that runs over 25 s is reported as a hang. A crashing input is written as crash-<sha1> in the
# working directory (build/fuzz/src/<module>/).
set -eu
target=$1 work=$2 runs=$3 corpus=$4
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}
if [ -n "${AIOT_FUZZ_SECONDS:-}" ]; then
  mkdir -p "$work"
  exec "$target" -max_total_time="$AIOT_FUZZ_SECONDS" -timeout=25 -rss_limit_mb=2048 "$work" "$corpus"
fi
rm -rf "$work.ci"
mkdir -p "$work.ci"
# A fixed seed alone does not repeat a run: libFuzzer also mutates with the operands of the
# comparisons the target made (-use_cmp), pointers among them, which differ with address-space
# randomisation. So no comparison operands, and no randomisation where the kernel lets us switch it
# off (setarch -R; a container's seccomp profile may refuse it).
norandom=""
if setarch "$(uname -m)" -R true 2>/dev/null; then
  norandom="setarch $(uname -m) -R"
fi
exec $norandom "$target" -seed=1 -runs="$runs" -use_cmp=0 -timeout=25 -rss_limit_mb=2048 \
  "$work.ci" "$corpus"
