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

# txc_test(NAME <name> SOURCES ... [DEPS ...] [LABELS ...] [RUN_SERIAL])
# A GoogleTest binary registered with ctest. Label "integration" marks tests that need the
# servers from scripts/services; they FAIL (never skip) when the servers are missing.
# RUN_SERIAL: the binary is one ctest test that runs alone (for tests that restart the shared
# servers).
function(txc_test)
  cmake_parse_arguments(ARG "RUN_SERIAL" "NAME" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${ARG_NAME} ${ARG_SOURCES})
  target_link_libraries(${ARG_NAME} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gtest_main
                        GTest::gmock txcoord_testing)
  txc_warnings(${ARG_NAME})
  if(ARG_RUN_SERIAL)
    # One ctest test for the whole binary: set_tests_properties keeps a label list intact
    # (gtest_discover_tests would split "integration;serial"), and the binary's tests run
    # one after the other with nothing else beside them.
    add_test(NAME ${ARG_NAME} COMMAND ${ARG_NAME})
    set_tests_properties(${ARG_NAME} PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT 600
                                                RUN_SERIAL TRUE)
  else()
    gtest_discover_tests(${ARG_NAME} DISCOVERY_TIMEOUT 60
                         PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT 600)
  endif()
endfunction()

# txc_protobuf(TARGET <target> PROTO <file.proto> INCLUDE_PREFIX <txcoord/x>)
# Generates C++ for PROTO into <build>/gen/<INCLUDE_PREFIX>/ and adds it to TARGET, so sources
# include "<INCLUDE_PREFIX>/<name>.pb.h". The generated header and the .proto are installed.
# Generated code is compiled without warnings (it is not ours to keep warning-clean).
function(txc_protobuf)
  cmake_parse_arguments(ARG "" "TARGET;PROTO;INCLUDE_PREFIX" "" ${ARGN})
  set(gen_root ${CMAKE_CURRENT_BINARY_DIR}/gen)
  file(MAKE_DIRECTORY ${gen_root}/${ARG_INCLUDE_PREFIX})
  get_filename_component(proto_abs ${ARG_PROTO} ABSOLUTE)
  get_filename_component(proto_dir ${proto_abs} DIRECTORY)
  get_filename_component(proto_name ${proto_abs} NAME_WE)
  protobuf_generate(TARGET ${ARG_TARGET} LANGUAGE cpp
    PROTOS ${proto_abs}
    IMPORT_DIRS ${proto_dir}
    PROTOC_OUT_DIR ${gen_root}/${ARG_INCLUDE_PREFIX}
    OUT_VAR generated)
  set_source_files_properties(${generated} PROPERTIES COMPILE_OPTIONS "-w")
  target_include_directories(${ARG_TARGET} SYSTEM PUBLIC $<BUILD_INTERFACE:${gen_root}>)
  target_link_libraries(${ARG_TARGET} PUBLIC protobuf::libprotobuf)
  install(FILES ${gen_root}/${ARG_INCLUDE_PREFIX}/${proto_name}.pb.h
          DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/${ARG_INCLUDE_PREFIX})
  install(FILES ${proto_abs} DESTINATION ${CMAKE_INSTALL_DATADIR}/txcoord/proto)
endfunction()
