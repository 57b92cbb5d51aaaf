# txc_library(NAME <name> SOURCES ... [DEPS ...] [PRIVATE_DEPS ...])
# Creates txcoord_<name> with the ALIAS txcoord::<name>, public headers from <folder>/include,
# the project's warning flags, and an install/export rule (export name: <name>).
function(txc_library)
  cmake_parse_arguments(ARG "" "NAME" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  set(target txcoord_${ARG_NAME})
  add_library(${target} ${ARG_SOURCES})
  add_library(txcoord::${ARG_NAME} ALIAS ${target})
  set_target_properties(${target} PROPERTIES EXPORT_NAME ${ARG_NAME} POSITION_INDEPENDENT_CODE ON
                                             OUTPUT_NAME txcoord_${ARG_NAME})
  target_include_directories(${target} PUBLIC
    $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  target_link_libraries(${target} PUBLIC ${ARG_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
  txc_warnings(${target})
  install(TARGETS ${target} EXPORT txcoordTargets
          ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
          LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
  if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/include)
    install(DIRECTORY include/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
  endif()
endfunction()

function(txc_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow
                         $<$<BOOL:${TXC_WERROR}>:-Werror>)
endfunction()

# txc_executable(NAME <name> SOURCES ... [DEPS ...] [INSTALL])
function(txc_executable)
  cmake_parse_arguments(ARG "INSTALL" "NAME" "SOURCES;DEPS" ${ARGN})
  add_executable(${ARG_NAME} ${ARG_SOURCES})
  target_link_libraries(${ARG_NAME} PRIVATE ${ARG_DEPS})
  txc_warnings(${ARG_NAME})
  if(ARG_INSTALL)
    install(TARGETS ${ARG_NAME} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  endif()
endfunction()

# txc_test(NAME <name> SOURCES ... [DEPS ...] [LABELS ...] [SERIAL])
# A GoogleTest binary registered with ctest. Label "integration" marks tests that need the
# servers from scripts/services; they FAIL (never skip) when the servers are missing.
# SERIAL: its tests never run in parallel with any other (RUN_SERIAL), e.g. tests that
# restart the shared servers.
function(txc_test)
  cmake_parse_arguments(ARG "SERIAL" "NAME" "SOURCES;DEPS;LABELS" ${ARGN})
  set(serial)
  if(ARG_SERIAL)
    set(serial RUN_SERIAL TRUE)
  endif()
  add_executable(${ARG_NAME} ${ARG_SOURCES})
  target_link_libraries(${ARG_NAME} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gtest_main
                        GTest::gmock txcoord_testing)
  txc_warnings(${ARG_NAME})
  gtest_discover_tests(${ARG_NAME} DISCOVERY_TIMEOUT 60
                       PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT 600 ${serial})
endfunction()
