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
