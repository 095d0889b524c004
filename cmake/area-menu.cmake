# menu/: golden traces of the interpreter (ussdgw-menu walk over the demo
# menu) and of the checker (ussdgw-menu check over the bad menus).
# Regenerate a trace after a deliberate change with GW_GOLDEN_UPDATE=1.
file(GLOB GW_MENU_GOLDEN CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/golden/menu/*.in)
foreach(in ${GW_MENU_GOLDEN})
  get_filename_component(name ${in} NAME_WE)
  add_test(NAME golden/menu/${name}
    COMMAND bash ${CMAKE_SOURCE_DIR}/tests/golden/menu/run-golden.sh walk
            $<TARGET_FILE:ussdgw-menu> ${in})
  set_tests_properties(golden/menu/${name} PROPERTIES LABELS golden TIMEOUT 60)
endforeach()
add_test(NAME golden/menu/check-bad
  COMMAND bash ${CMAKE_SOURCE_DIR}/tests/golden/menu/run-golden.sh check
          $<TARGET_FILE:ussdgw-menu> ${CMAKE_SOURCE_DIR}/tests/golden/menu/check-bad.ok)
set_tests_properties(golden/menu/check-bad PROPERTIES LABELS golden TIMEOUT 60)
# Every shipped menu passes the checker.
file(GLOB GW_MENUS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/menus/*.json)
foreach(menu ${GW_MENUS})
  get_filename_component(name ${menu} NAME_WE)
  add_test(NAME golden/menu/check-${name} COMMAND $<TARGET_FILE:ussdgw-menu> check ${menu})
  set_tests_properties(golden/menu/check-${name} PROPERTIES LABELS golden TIMEOUT 60)
endforeach()
