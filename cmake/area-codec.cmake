# SMPP codec area: golden tests, the libsmpp34 oracle, the codec benchmark and
# the text dump tool used by the node-smpp interop test.

# Golden test: decoded PDU fields compared with tests/golden/smpp/pdu_vectors.ok.
add_executable(smpp_golden ${CMAKE_SOURCE_DIR}/tests/golden/smpp/smpp_golden.c)
target_link_libraries(smpp_golden PRIVATE ussdgw_core)
add_test(NAME golden/smpp_pdu
  COMMAND ${CMAKE_COMMAND} -DPROG=$<TARGET_FILE:smpp_golden>
          -DINPUT=${CMAKE_SOURCE_DIR}/tests/golden/smpp/pdu_vectors.txt
          -DEXPECTED=${CMAKE_SOURCE_DIR}/tests/golden/smpp/pdu_vectors.ok
          -P ${CMAKE_SOURCE_DIR}/cmake/golden-compare.cmake)
set_tests_properties(golden/smpp_pdu PROPERTIES LABELS golden TIMEOUT ${GW_TEST_TIMEOUT})

# libsmpp34 is a test oracle and a benchmark baseline only; never linked into
# ussdgw_core. Without it the oracle test is compiled as a skip (exit 77), which
# tools/run-tests counts as a failure.
if(TARGET test_pdu_oracle)
  if(SMPP34_FOUND)
    target_link_libraries(test_pdu_oracle PRIVATE PkgConfig::SMPP34)
  else()
    message(WARNING "libsmpp34 not found (apt-get install libsmpp34-dev): oracle test skipped")
    target_compile_definitions(test_pdu_oracle PRIVATE GW_NO_SMPP34)
  endif()
endif()

# Text codec CLI for tests/interop/smpp_text.sh (compares with node-smpp).
add_executable(smpp_text_tool ${CMAKE_SOURCE_DIR}/tests/interop/smpp_text_tool.c)
target_link_libraries(smpp_text_tool PRIVATE ussdgw_core)

# Codec micro-benchmark against libsmpp34 (tools/bench/codec_bench.c).
if(SMPP34_FOUND)
  add_executable(codec_bench ${CMAKE_SOURCE_DIR}/tools/bench/codec_bench.c)
  target_link_libraries(codec_bench PRIVATE ussdgw_core PkgConfig::SMPP34)
endif()
