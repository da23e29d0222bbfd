# Scenario tests, label "scenario" (ctest -L scenario):
#  - scenario.linux.NAME: scenarios/NAME.scn on the linux backend.  The
#    kernel is the authority, so every `=> EXPECTED` must hold.
#  - scenario.diff.NAME: `aspace diff` of the same file: the engine's
#    transcript must equal the kernel's.  Names listed in
#    tests/engine-pending.txt are expected to differ (diff exits 1; a crash
#    still fails), and one that starts to match fails until it is taken
#    off the list: the list can only shrink.  Files marked `# requires: ...` (or that a backend
#    cannot run in this build, e.g. mlockall under a sanitizer) are
#    reported as skipped.
#  - scenario.errors.NAME: tests/scenario-errors/NAME.scn must be rejected
#    with exit status 2 (a syntax error, with file:line).
#  - scenario.example: `aspace run --backend=linux` with no file.
if(NOT TARGET aspace)
  return()
endif()

file(GLOB ASPACE_SCENARIOS CONFIGURE_DEPENDS
     ${PROJECT_SOURCE_DIR}/scenarios/*.scn)
set(ASPACE_PENDING_FILE ${CMAKE_CURRENT_SOURCE_DIR}/engine-pending.txt)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
             ${ASPACE_PENDING_FILE})
set(ASPACE_PENDING "")
if(EXISTS ${ASPACE_PENDING_FILE})
  file(STRINGS ${ASPACE_PENDING_FILE} ASPACE_PENDING REGEX "^[^#]")
endif()

set(ASPACE_SCENARIO_NAMES "")
foreach(scn ${ASPACE_SCENARIOS})
  get_filename_component(name ${scn} NAME_WE)
  list(APPEND ASPACE_SCENARIO_NAMES ${name})
  add_test(NAME scenario.linux.${name}
           COMMAND aspace run --backend=linux ${scn})
  if(name IN_LIST ASPACE_PENDING)
    # Expected to differ (status 1), not to crash; a match fails with a
    # reminder to shrink the list.
    add_test(NAME scenario.diff.${name}
             COMMAND sh -c "\"$0\" diff --skip-status=77 \"$1\" >/dev/null; s=$?; if [ $s -eq 0 ]; then echo \"$2 now matches the kernel: remove it from tests/engine-pending.txt\"; exit 1; fi; [ $s -eq 1 ] || exit $s"
                     $<TARGET_FILE:aspace> ${scn} ${name})
  else()
    add_test(NAME scenario.diff.${name}
             COMMAND aspace diff --skip-status=77 ${scn})
  endif()
  set_tests_properties(scenario.linux.${name} scenario.diff.${name}
                       PROPERTIES LABELS scenario TIMEOUT 120)
  set_tests_properties(scenario.diff.${name} PROPERTIES SKIP_RETURN_CODE 77)
endforeach()

# A stale entry would silently stop guarding anything.
foreach(name ${ASPACE_PENDING})
  string(STRIP "${name}" name)
  if(name AND NOT name IN_LIST ASPACE_SCENARIO_NAMES)
    message(FATAL_ERROR
      "tests/engine-pending.txt lists '${name}', but scenarios/${name}.scn does not exist")
  endif()
endforeach()

file(GLOB ASPACE_BAD_SCENARIOS CONFIGURE_DEPENDS
     ${CMAKE_CURRENT_SOURCE_DIR}/scenario-errors/*.scn)
foreach(scn ${ASPACE_BAD_SCENARIOS})
  get_filename_component(name ${scn} NAME_WE)
  add_test(NAME scenario.errors.${name}
           COMMAND sh -c "\"$0\" run --backend=linux \"$1\"; test $? -eq 2"
                   $<TARGET_FILE:aspace> ${scn})
  set_tests_properties(scenario.errors.${name}
                       PROPERTIES LABELS scenario TIMEOUT 60)
endforeach()

add_test(NAME scenario.example COMMAND aspace run --backend=linux)
set_tests_properties(scenario.example PROPERTIES LABELS scenario TIMEOUT 60)

# The runner's parser and formatter on their own (cmocka).
add_executable(scn_test_format ${CMAKE_CURRENT_SOURCE_DIR}/scn/test_format.c
               ${PROJECT_SOURCE_DIR}/tools/aspace/parse.c
               ${PROJECT_SOURCE_DIR}/tools/aspace/format.c)
target_include_directories(scn_test_format PRIVATE
                           ${PROJECT_SOURCE_DIR}/tools/aspace)
target_link_libraries(scn_test_format PRIVATE PkgConfig::CMOCKA)
add_test(NAME scenario.format COMMAND scn_test_format)
set_tests_properties(scenario.format PROPERTIES LABELS scenario TIMEOUT 60)
