# Writes OUT, defining VDSR_VERSION as "<PROJECT_VERSION>+<git describe --tags --always --dirty>" of
# SOURCE_DIR (the project version alone outside a checkout). It runs at every build, so the binaries
# carry the commit and tree state they were built from; OUT is rewritten only when that changes.
execute_process(COMMAND git describe --tags --always --dirty
                WORKING_DIRECTORY ${SOURCE_DIR}
                OUTPUT_VARIABLE describe OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
if(describe)
  set(version "${PROJECT_VERSION}+${describe}")
else()
  set(version "${PROJECT_VERSION}")
endif()
set(text "#pragma once\n#define VDSR_VERSION \"${version}\"\n")
set(old "")
if(EXISTS ${OUT})
  file(READ ${OUT} old)
endif()
if(NOT old STREQUAL text)
  file(WRITE ${OUT} "${text}")
endif()
