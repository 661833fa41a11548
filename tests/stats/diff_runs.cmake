# Two runs of FILE (stats A and A2) diff clean; a third with platform timing
# changed (B: dram 100 ns) diffs as that change; a file that is not JSON and a
# missing file exit 2. Every stats file must also be valid JSON to Python.
set(dir ${WORK})
file(MAKE_DIRECTORY ${dir})
file(READ ${FILE} text)
string(REPLACE "platform: {arch: x86-tdx}" "platform: {arch: x86-tdx, timing: {dram: 100ns}}" slow "${text}")
if(slow STREQUAL text)
  message(FATAL_ERROR "${FILE} has no 'platform: {arch: x86-tdx}' line to change")
endif()
file(WRITE ${dir}/slow-dram.yaml "${slow}")

function(run file stats)
  execute_process(COMMAND ${COCOSIM} run ${file} --stats ${stats}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "cocosim run ${file} exited ${rc}:\n${out}${err}")
  endif()
  execute_process(COMMAND ${PYTHON} -m json.tool ${stats} RESULT_VARIABLE rc OUTPUT_QUIET
                  ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${stats} is not valid JSON: ${err}")
  endif()
endfunction()
run(${FILE} ${dir}/a.json)
run(${FILE} ${dir}/a2.json)
run(${dir}/slow-dram.yaml ${dir}/b.json)

function(diff a b want_rc)
  execute_process(COMMAND ${COCOSIM} diff ${a} ${b}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL want_rc)
    message(FATAL_ERROR "cocosim diff ${a} ${b} exited ${rc}, expected ${want_rc}:\n${out}${err}")
  endif()
  foreach(text ${ARGN})
    string(FIND "${out}${err}" "${text}" pos)
    if(pos EQUAL -1)
      message(FATAL_ERROR "cocosim diff ${a} ${b} does not say '${text}':\n${out}${err}")
    endif()
  endforeach()
endfunction()
diff(${dir}/a.json ${dir}/a2.json 0 "no differences")
diff(${dir}/a.json ${dir}/b.json 1
     "platform.timing.dram_ps: 50000 -> 100000" "simulated time: " "step_times[9 KVM_RUN]")
file(WRITE ${dir}/broken.json "{\"counters\": ")
diff(${dir}/a.json ${dir}/broken.json 2 "broken.json:1:14: unexpected end of input")
diff(${dir}/a.json ${dir}/missing.json 2 "missing.json: No such file")
