# Runtime CPU dispatch for portable builds (FASTRNN_NATIVE=OFF on x86-64 Linux with GCC or
# Clang; elsewhere FASTRNN_NATIVE=OFF is one build for the compiler's default target).
#
# The kernel sources are compiled three times, each with its -march and hidden visibility,
# plus cpp/src/isa_entry.cpp, the variant's table of the public API. The objects of a variant
# are then partial-linked into one object (ld -r --force-group-allocation: COMDAT groups are
# dissolved, so the final link cannot replace an inline function or template instance of this
# variant by another variant's copy of the same name), and objcopy makes every symbol of it
# local but the table, fastrnn_isa_<variant>. Only the baseline-compiled dispatcher
# (cpp/src/isa.cpp, cpp/src/isa_dispatch.cpp) defines global kernel symbols: no AVX code is
# reachable except through the table the CPU check chose. Sets FASTRNN_DISPATCH and
# FASTRNN_ISA_OBJECTS (the three objects, sources of fastrnn_kernels).
set(FASTRNN_DISPATCH OFF)
if(NOT FASTRNN_NATIVE AND CMAKE_SYSTEM_NAME STREQUAL "Linux"
   AND CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64)$"
   AND CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
  set(FASTRNN_DISPATCH ON)
endif()
set(FASTRNN_ISA_OBJECTS)
if(NOT FASTRNN_DISPATCH)
  return()
endif()
if(NOT CMAKE_LINKER OR NOT CMAKE_OBJCOPY)
  message(FATAL_ERROR "FASTRNN_NATIVE=OFF (runtime dispatch) needs ld and objcopy (binutils)")
endif()

# variant name, then its compiler flags (the names are those of FASTRNN_ISA, cpp/src/isa.cpp)
set(_fastrnn_isa_variants
  "baseline|-march=x86-64"
  "avx2|-march=x86-64-v3"
  "avx512|-march=x86-64-v4")
foreach(_variant IN LISTS _fastrnn_isa_variants)
  string(REPLACE "|" ";" _variant "${_variant}")
  list(GET _variant 0 _isa)
  list(GET _variant 1 _march)
  set(_target fastrnn_kernels_${_isa})
  add_library(${_target} OBJECT ${FASTRNN_KERNEL_SOURCES} cpp/src/isa_entry.cpp)
  fastrnn_kernel_settings(${_target})
  target_compile_options(${_target} PRIVATE ${_march})
  target_compile_definitions(${_target} PRIVATE FASTRNN_ISA_ENTRY=fastrnn_isa_${_isa})
  set_target_properties(${_target} PROPERTIES CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # Statics of inline functions as weak symbols, not STB_GNU_UNIQUE (which objcopy would
    # leave global).
    target_compile_options(${_target} PRIVATE -fno-gnu-unique)
  endif()
  set(_object ${CMAKE_CURRENT_BINARY_DIR}/fastrnn_isa_${_isa}${CMAKE_CXX_OUTPUT_EXTENSION})
  add_custom_command(OUTPUT ${_object}
    COMMAND ${CMAKE_LINKER} -r --force-group-allocation -o ${_object}
      $<TARGET_OBJECTS:${_target}>
    COMMAND ${CMAKE_OBJCOPY} --keep-global-symbol=fastrnn_isa_${_isa} ${_object}
    DEPENDS ${_target} $<TARGET_OBJECTS:${_target}>
    COMMENT "Partial-linking the ${_isa} kernels (${_march}), their symbols made local"
    COMMAND_EXPAND_LISTS VERBATIM)
  list(APPEND FASTRNN_ISA_OBJECTS ${_object})
endforeach()
