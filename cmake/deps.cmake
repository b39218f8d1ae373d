# Third-party dependencies, all from Debian 12 packages (scripts/setup.sh installs them).
find_package(Threads REQUIRED)
find_package(Boost 1.74 REQUIRED)
find_package(OpenSSL REQUIRED)
find_package(yaml-cpp REQUIRED)
find_package(nlohmann_json REQUIRED)
find_package(spdlog REQUIRED)
find_package(fmt REQUIRED)
find_package(CLI11 REQUIRED)
find_package(SQLite3 REQUIRED)
find_package(Eigen3 REQUIRED NO_MODULE)
find_package(prometheus-cpp REQUIRED)
find_package(simdjson REQUIRED)
find_package(ZLIB REQUIRED)
find_package(PkgConfig REQUIRED)
find_package(FlatBuffers REQUIRED)      # flatbuffers::flatbuffers
find_package(kissfft REQUIRED)          # kissfft::kissfft-float
pkg_check_modules(RDKAFKA REQUIRED IMPORTED_TARGET rdkafka++)  # PkgConfig::RDKAFKA
if(AIOT_BUILD_TESTS)
  find_package(GTest REQUIRED)
  include(GoogleTest)
endif()
if(AIOT_BUILD_BENCH)
  find_package(benchmark REQUIRED)
endif()

# Boost 1.74 Asio/Beast are header-only here; one interface target with the definitions we rely on.
add_library(aiot_boost INTERFACE)
target_link_libraries(aiot_boost INTERFACE Boost::headers Threads::Threads)
target_compile_definitions(aiot_boost INTERFACE BOOST_ASIO_NO_DEPRECATED BOOST_BEAST_USE_STD_STRING_VIEW)
