# Bench area: the load generator that plays the operator's USSD centre / SMSC
# against a running ussdgw (tools/bench/run drives it). A tool, not a test.
add_executable(ussd_load ${CMAKE_SOURCE_DIR}/tools/bench/ussd_load.c)
target_link_libraries(ussd_load PRIVATE ussdgw_core)
