# Hardening flags, on by default (SF_HARDEN=OFF turns them off), the set
# Debian's dpkg-buildflags "hardening=+all" and the OpenSSF "Compiler
# Options Hardening Guide for C and C++" recommend:
#
#   -fstack-protector-strong       canary in every function with an array
#                                  or an address-taken local
#   -D_FORTIFY_SOURCE=3 (or 2)     glibc's checked memcpy/snprintf/...
#                                  (__*_chk); needs optimisation, so not in
#                                  Debug (-O0) builds, nor under ASan, which
#                                  checks the same accesses itself
#   -fstack-clash-protection       probes each page of a large stack frame
#   -fcf-protection                Intel CET: IBT (endbr64) and SHSTK notes
#   -Wl,-z,relro,-z,now            full RELRO: GOT read-only after start-up
#   PIE                            executables are position independent
#
# tests/unit/core/test_hardening.sh checks the installed files with readelf.
include(CheckCCompilerFlag)
include(CheckCSourceCompiles)
include(CheckPIESupported)

option(SF_HARDEN "Build with hardening flags (stack protector, FORTIFY, RELRO, PIE, CET)" ON)
set(SF_FORTIFY_LEVEL 0)
set(SF_FORTIFY_GENEX 0)
if(NOT SF_HARDEN)
  return()
endif()

foreach(flag -fstack-protector-strong -fstack-clash-protection -fcf-protection)
  string(MAKE_C_IDENTIFIER "SF_HAS${flag}" var)
  check_c_compiler_flag(${flag} ${var})
  if(${var})
    add_compile_options(${flag})
  endif()
endforeach()

# FORTIFY level 3 (glibc >= 2.34 with __builtin_dynamic_object_size, gcc >= 12
# or clang) where the toolchain honours it, else 2.  Checked with the same
# -O2 the optimised builds use, since glibc ignores the macro without -O.
if(NOT SF_SANITIZE)
  set(CMAKE_REQUIRED_FLAGS "-O2 -Werror")
  set(CMAKE_REQUIRED_DEFINITIONS -D_FORTIFY_SOURCE=3)
  check_c_source_compiles([[
#include <string.h>
#if !defined(__USE_FORTIFY_LEVEL) || __USE_FORTIFY_LEVEL < 3
#error no FORTIFY 3
#endif
int main(void) { return 0; }]] SF_HAS_FORTIFY3)
  unset(CMAKE_REQUIRED_FLAGS)
  unset(CMAKE_REQUIRED_DEFINITIONS)
  if(SF_HAS_FORTIFY3)
    set(SF_FORTIFY_LEVEL 3)
  else()
    set(SF_FORTIFY_LEVEL 2)
  endif()
  # Only where the build type optimises (an unknown/empty type does not).
  # SF_FORTIFY_GENEX is the level in force, for tests (0 where none).
  set(_opt "$<OR:$<CONFIG:Release>,$<CONFIG:RelWithDebInfo>,$<CONFIG:MinSizeRel>>")
  set(SF_FORTIFY_GENEX "$<IF:${_opt},${SF_FORTIFY_LEVEL},0>")
  add_compile_options("$<${_opt}:-U_FORTIFY_SOURCE>"
                      "$<${_opt}:-D_FORTIFY_SOURCE=${SF_FORTIFY_LEVEL}>")
endif()

add_link_options(-Wl,-z,relro,-z,now)

check_pie_supported(LANGUAGES C)
set(CMAKE_POSITION_INDEPENDENT_CODE ON)
