# Run PROG INPUT and compare its stdout with EXPECTED; print a diff on mismatch.
# Regenerate with: PROG INPUT > EXPECTED (then review the diff before committing).
execute_process(COMMAND ${PROG} ${INPUT} OUTPUT_VARIABLE out RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${PROG} exited with ${rc}")
endif()
file(READ ${EXPECTED} expected)
if(NOT out STREQUAL expected)
  string(RANDOM LENGTH 8 tag)
  set(actual_file ${CMAKE_CURRENT_BINARY_DIR}/golden-actual-${tag}.txt)
  file(WRITE ${actual_file} "${out}")
  execute_process(COMMAND diff -u ${EXPECTED} ${actual_file})
  message(FATAL_ERROR "output differs from ${EXPECTED} (actual in ${actual_file})")
endif()
