# Store adapters, migrations and the dev-stack tests.

# The schema version this build expects: the highest sql/NNNN-*.sql.
# store_pg refuses queries while the database is at another version.
file(GLOB GW_MIGRATIONS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/sql/[0-9][0-9][0-9][0-9]-*.sql)
set(GW_SCHEMA_VERSION 0)
foreach(m ${GW_MIGRATIONS})
  get_filename_component(mname ${m} NAME)
  string(SUBSTRING ${mname} 0 4 mver)
  math(EXPR mver "${mver} + 0")
  if(mver GREATER GW_SCHEMA_VERSION)
    set(GW_SCHEMA_VERSION ${mver})
  endif()
endforeach()
set_property(SOURCE ${CMAKE_SOURCE_DIR}/src/store/pg.c APPEND PROPERTY
             COMPILE_DEFINITIONS GW_SCHEMA_VERSION=${GW_SCHEMA_VERSION})

# The Redis fault test stops and starts the shared dev Redis: run it alone.
# (The PostgreSQL tests only terminate their own backend.)
foreach(t integration/test_store_redis)
  if(TEST ${t})
    set_tests_properties(${t} PROPERTIES RUN_SERIAL TRUE)
  endif()
endforeach()
