# kiln_set_warnings(target): the project's warning flags (errors with KILN_WERROR).
function(kiln_set_warnings target)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor>
    # g++ 12 flags designated initializers that leave defaulted members out
    # (Conv2D(64, 3, {.activation = "relu"})), which is how the options structs are meant to be used.
    $<$<COMPILE_LANGUAGE:CXX>:-Wno-missing-field-initializers>
    # clang reports `#pragma omp simd` loops it could not vectorise (under the sanitizers, most).
    $<$<AND:$<COMPILE_LANGUAGE:CXX>,$<CXX_COMPILER_ID:Clang>>:-Wno-pass-failed>
    $<$<AND:$<COMPILE_LANGUAGE:CXX>,$<BOOL:${KILN_WERROR}>>:-Werror>)
endfunction()

if(KILN_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()
