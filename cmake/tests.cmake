# Unit tests: tests/unit/<area>/test_<module>.c, one cmocka executable each.
# Integration tests: tests/integration/test_*.c, against the dev stack
# (environment from `tools/devstack env`); they fail, never skip, without it.
set(GW_TEST_TIMEOUT 120 CACHE STRING "Per-test timeout in seconds")

function(gw_add_c_test src label)
  get_filename_component(name ${src} NAME_WE)
  add_executable(${name} ${src})
  target_link_libraries(${name} PRIVATE ussdgw_core PkgConfig::CMOCKA)
  target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR}/src ${CMAKE_SOURCE_DIR}/tests)
  add_test(NAME ${label}/${name} COMMAND ${name})
  set_tests_properties(${label}/${name} PROPERTIES LABELS ${label} TIMEOUT ${GW_TEST_TIMEOUT}
    SKIP_RETURN_CODE 77
    ENVIRONMENT "GW_SOURCE_DIR=${CMAKE_SOURCE_DIR};GW_BUILD_DIR=${CMAKE_BINARY_DIR}")
endfunction()

file(GLOB_RECURSE GW_UNIT_TESTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/unit/*/test_*.c)
foreach(t ${GW_UNIT_TESTS})
  gw_add_c_test(${t} unit)
endforeach()
file(GLOB GW_INTEGRATION_TESTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/integration/test_*.c)
foreach(t ${GW_INTEGRATION_TESTS})
  gw_add_c_test(${t} integration)
endforeach()
# Script tests (shell, node, perl): tests/integration/*.sh and tests/interop/*.sh
file(GLOB GW_SCRIPT_TESTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/integration/*.sh
     ${CMAKE_SOURCE_DIR}/tests/interop/*.sh)
foreach(t ${GW_SCRIPT_TESTS})
  get_filename_component(name ${t} NAME_WE)
  get_filename_component(dir ${t} DIRECTORY)
  get_filename_component(label ${dir} NAME)
  add_test(NAME ${label}/${name} COMMAND bash ${t})
  set_tests_properties(${label}/${name} PROPERTIES LABELS ${label} TIMEOUT ${GW_TEST_TIMEOUT}
    SKIP_RETURN_CODE 77
    ENVIRONMENT "GW_SOURCE_DIR=${CMAKE_SOURCE_DIR};GW_BUILD_DIR=${CMAKE_BINARY_DIR}")
  # A script that stops or restarts shared dev-stack services says so with
  # a "# ctest: serial" line and runs alone.
  file(STRINGS ${t} _serial REGEX "^# ctest: serial")
  if(_serial)
    set_tests_properties(${label}/${name} PROPERTIES RUN_SERIAL TRUE)
  endif()
endforeach()

# Fuzz targets: tests/fuzz/fuzz_<name>.c with a corpus in tests/fuzz/corpus/<name>/.
# Without libFuzzer a replay driver runs the corpus as an ordinary test.
file(GLOB GW_FUZZ_TARGETS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_*.c)
foreach(f ${GW_FUZZ_TARGETS})
  get_filename_component(name ${f} NAME_WE)
  string(REGEX REPLACE "^fuzz_" "" short ${name})
  add_executable(${name}_replay ${f} ${CMAKE_SOURCE_DIR}/tests/fuzz/replay_main.c)
  target_link_libraries(${name}_replay PRIVATE ussdgw_core)
  target_include_directories(${name}_replay PRIVATE ${CMAKE_SOURCE_DIR}/src)
  add_test(NAME fuzz/${name} COMMAND ${name}_replay ${CMAKE_SOURCE_DIR}/tests/fuzz/corpus/${short})
  set_tests_properties(fuzz/${name} PROPERTIES LABELS fuzz TIMEOUT ${GW_TEST_TIMEOUT})
  if(GW_FUZZ)
    add_executable(${name} ${f})
    target_compile_options(${name} PRIVATE -fsanitize=fuzzer)
    target_link_options(${name} PRIVATE -fsanitize=fuzzer)
    target_link_libraries(${name} PRIVATE ussdgw_core)
    target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR}/src)
  endif()
endforeach()
