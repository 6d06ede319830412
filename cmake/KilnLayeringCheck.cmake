# Proof that the layers are enforced (Note [Layers enforced by the build] in src/CMakeLists.txt):
# probe files compiled with exactly the include roots of the core layer. Including a header of a
# higher layer must fail to compile; the control, which includes the core layer's own headers
# and the public ones the same way, must compile, so a failure means the include, not the setup.
# ctest runs them as layering.* (each builds one object file, outside `all`).
set(KILN_LAYERING_DIR ${PROJECT_SOURCE_DIR}/cmake/layering)

# kiln_layering_probe(NAME SOURCE LAYER): OBJECT library NAME, SOURCE compiled as a file of LAYER.
function(kiln_layering_probe name source layer)
  add_library(${name} OBJECT EXCLUDE_FROM_ALL ${KILN_LAYERING_DIR}/${source})
  # Linking an OBJECT library to another passes on its usage requirements (the include roots
  # of the layer and of those below it), not its objects.
  target_link_libraries(${name} PRIVATE ${layer} kiln_layer_settings)
endfunction()

# kiln_layering_test(NAME TARGET EXPECT [HEADER]): ctest NAME builds TARGET; EXPECT is "compiles"
# or "fails", and a failure must name HEADER (not some other error).
function(kiln_layering_test name target expect)
  add_test(NAME ${name} COMMAND ${CMAKE_COMMAND} -DBUILD_DIR=${PROJECT_BINARY_DIR}
    -DTARGET=${target} -DEXPECT=${expect} -DHEADER=${ARGN}
    -P ${KILN_LAYERING_DIR}/expect_build.cmake)
  set_tests_properties(${name} PROPERTIES LABELS unit RESOURCE_LOCK kiln_layering TIMEOUT 300)
endfunction()

kiln_layering_probe(kiln_layering_control core_control.cpp kiln_core)
kiln_layering_test(layering.core_control_compiles kiln_layering_control compiles)
kiln_layering_probe(kiln_layering_core_to_backend core_includes_backend.cpp kiln_core)
kiln_layering_test(layering.core_cannot_include_backend kiln_layering_core_to_backend fails
  backend/backend.h)
# The same header from a file of the backend layer compiles: the path is right, the layer is not.
kiln_layering_probe(kiln_layering_backend_to_backend core_includes_backend.cpp kiln_backend)
kiln_layering_test(layering.backend_includes_backend kiln_layering_backend_to_backend compiles)
if(KILN_HAVE_CUDA)
  kiln_layering_probe(kiln_layering_core_to_cuda core_includes_cuda.cpp kiln_core)
  kiln_layering_test(layering.core_cannot_include_cuda kiln_layering_core_to_cuda fails
    cuda/cuda_api.h)
  kiln_layering_probe(kiln_layering_cuda_to_cuda core_includes_cuda.cpp kiln_cuda)
  kiln_layering_test(layering.cuda_includes_cuda kiln_layering_cuda_to_cuda compiles)
endif()
