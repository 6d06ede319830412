# cmake -DBUILD_DIR=... -DTARGET=... -DEXPECT=compiles|fails [-DHEADER=...] -P expect_build.cmake
# (KilnLayeringCheck.cmake): builds one layering probe and checks the outcome.
execute_process(COMMAND ${CMAKE_COMMAND} --build ${BUILD_DIR} --target ${TARGET}
  RESULT_VARIABLE status OUTPUT_VARIABLE output ERROR_VARIABLE output)
if(EXPECT STREQUAL "compiles")
  if(NOT status EQUAL 0)
    message(FATAL_ERROR "layering: ${TARGET} should compile and did not:\n${output}")
  endif()
  message(STATUS "layering: ${TARGET} compiles, as it should")
  return()
endif()
if(status EQUAL 0)
  message(FATAL_ERROR "layering: ${TARGET} includes ${HEADER} from a layer below it and compiled: "
                      "the layers are not enforced (Note [Layers enforced by the build] in "
                      "src/CMakeLists.txt)")
endif()
string(FIND "${output}" "${HEADER}" at)
if(at EQUAL -1)
  message(FATAL_ERROR "layering: ${TARGET} failed, but not on ${HEADER}:\n${output}")
endif()
message(STATUS "layering: ${TARGET} cannot include ${HEADER}, as it should not")
