# Every dependency comes from a Debian 12 package (see scripts/install-deps).
# Kept in one place so cmake/txcoordConfig.cmake.in can mirror it for consumers.
find_package(Threads REQUIRED)
find_package(PkgConfig REQUIRED)
find_package(Poco 1.11 REQUIRED COMPONENTS Foundation Net Util JSON)
find_package(PostgreSQL REQUIRED)
pkg_check_modules(hiredis REQUIRED IMPORTED_TARGET GLOBAL hiredis)
find_package(Protobuf REQUIRED)
find_package(Boost 1.74 REQUIRED)
if(TXC_BUILD_TESTS)
  find_package(GTest REQUIRED)
  include(GoogleTest)
endif()
