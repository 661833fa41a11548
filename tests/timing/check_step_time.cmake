# Runs FILE with -v and checks that step TO started STEP_NS after step FROM:
# the simulated time of what happened in between, from the report's stamps
# (whole picoseconds, "[N] 14416000 ps").
execute_process(COMMAND ${COCOSIM} run ${FILE} -v RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "run failed (${rc}):\n${out}${err}")
endif()
foreach(step FROM TO)
  if(NOT out MATCHES "\\[${${step}}\\] ([0-9]+) ps ")
    message(FATAL_ERROR "no time stamp in ps for step ${${step}}:\n${out}")
  endif()
  set(${step}_ps ${CMAKE_MATCH_1})
endforeach()
math(EXPR diff "${TO_ps} - ${FROM_ps}")
math(EXPR want "${STEP_NS} * 1000")
if(NOT diff EQUAL want)
  message(FATAL_ERROR "step ${TO} ran ${diff} ps after step ${FROM}, expected ${want} ps:\n${out}")
endif()
# One unit everywhere: no stamp in another unit.
if(out MATCHES "\\] [0-9.]+ (fs|ns|us|ms|s) ")
  message(FATAL_ERROR "a time stamp not in ps:\n${out}")
endif()
