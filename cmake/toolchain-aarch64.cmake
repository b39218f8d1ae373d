# Cross-compiling aiot for arm64 (Raspberry Pi class boxes) on an amd64 Debian 12 host with Debian's
# g++-aarch64-linux-gnu and the arm64 (multiarch) -dev packages: scripts/cross-arm64.sh.
# Test executables run under qemu-user-static (CMAKE_CROSSCOMPILING_EMULATOR), so ctest and
# gtest_discover_tests work as on a native build.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
# Headers and libraries of the arm64 packages; programs (flatc, protoc ...) from the host.
# build/arm64-sysroot: the arm64 -dev packages that cannot be installed beside the amd64 ones.
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu / ${CMAKE_CURRENT_LIST_DIR}/../build/arm64-sysroot)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)
# pkg-config: the multiarch arm64 packages, then the sysroot's (libxgboost-dev).
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig:${CMAKE_CURRENT_LIST_DIR}/../build/arm64-sysroot/usr/lib/aarch64-linux-gnu/pkgconfig")
# The loader and libc are the arm64 multiarch ones (/lib/ld-linux-aarch64.so.1, libc6:arm64, there
# as a dependency of the arm64 -dev packages). Not `-L /usr/aarch64-linux-gnu`: that prefix's loader
# is the cross toolchain's, from another glibc build than the libc it then loads from
# /lib/aarch64-linux-gnu, and the first thread a test starts spins forever in that mismatch.
# -E LD_LIBRARY_PATH: the sysroot's shared libraries (libxgboost's libdmlc is a dependency of a
# dependency, which an executable's RUNPATH does not reach).
get_filename_component(AIOT_ARM64_SYSROOT "${CMAKE_CURRENT_LIST_DIR}/../build/arm64-sysroot" ABSOLUTE)
set(CMAKE_CROSSCOMPILING_EMULATOR
    qemu-aarch64-static;-E;LD_LIBRARY_PATH=${AIOT_ARM64_SYSROOT}/usr/lib/aarch64-linux-gnu)
# The .deb of a cross build is for arm64 (CPack reads this instead of asking dpkg).
set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE arm64)
