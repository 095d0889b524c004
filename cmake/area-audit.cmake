# Audit area: the benchmark of the journal -> PostgreSQL path (not a test).
add_executable(audit_bench ${CMAKE_SOURCE_DIR}/tools/bench/audit_bench.c)
target_link_libraries(audit_bench PRIVATE ussdgw_core)
target_include_directories(audit_bench PRIVATE ${CMAKE_SOURCE_DIR}/src)
