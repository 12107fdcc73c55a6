# Helpers shared by the module CMakeLists.

# sf_install_library(<target> <pc-name> <description> <pkg-config Requires>)
# Installs the library, its public headers (include/*.h of the calling
# folder) and a pkg-config file.  Call it after the target's
# target_link_libraries().
#
# The library is built with hidden visibility: only what its public headers
# declare (inside their `#pragma GCC visibility push(default)`) is exported.
# <target>_internal is a static library of the same objects for unit tests
# that exercise internals; it is not installed.
function(sf_install_library target pcname description requires)
  set_target_properties(${target} PROPERTIES C_VISIBILITY_PRESET hidden)
  add_library(${target}_internal STATIC $<TARGET_OBJECTS:${target}>)
  add_dependencies(${target}_internal ${target})
  get_target_property(_libs ${target} LINK_LIBRARIES)
  get_target_property(_incs ${target} INCLUDE_DIRECTORIES)
  if(_libs)
    target_link_libraries(${target}_internal PUBLIC ${_libs})
  endif()
  target_include_directories(${target}_internal PUBLIC ${_incs})
  install(TARGETS ${target}
          LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
          ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
  file(GLOB _hdrs ${CMAKE_CURRENT_SOURCE_DIR}/include/*.h)
  install(FILES ${_hdrs} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/streamfold)
  get_target_property(_out ${target} OUTPUT_NAME)
  if(NOT _out)
    set(_out ${target})
  endif()
  set(PC_NAME ${pcname})
  set(PC_DESCRIPTION "${description}")
  set(PC_REQUIRES "${requires}")
  set(PC_LIB ${_out})
  # Relocatable: prefix is found from the .pc file's own folder, so
  # `cmake --install build --prefix DIR` works for any DIR.
  file(RELATIVE_PATH PC_PREFIX_REL "/_/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/_")
  configure_file(${PROJECT_SOURCE_DIR}/cmake/streamfold.pc.in
                 ${CMAKE_CURRENT_BINARY_DIR}/${pcname}.pc @ONLY)
  install(FILES ${CMAKE_CURRENT_BINARY_DIR}/${pcname}.pc
          DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
endfunction()

# sf_add_unit_test(<name> SOURCES <files...> LIBS <targets...>)
# A cmocka test run by ctest with label "unit" (no running services needed).
function(sf_add_unit_test name)
  cmake_parse_arguments(T "" "" "SOURCES;LIBS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_link_libraries(${name} PRIVATE ${T_LIBS} PkgConfig::CMOCKA)
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES LABELS unit TIMEOUT 300)
endfunction()

# sf_add_integration_test(<name> COMMAND <cmd...> [TIMEOUT s])
# A test against the running local stack (deploy/stack.sh up), label
# "integration".  It sees SF_BROKERS, SF_REDIS_HOST, SF_REDIS_PORT,
# SF_BUILD_DIR and SF_SOURCE_DIR in its environment.
function(sf_add_integration_test name)
  cmake_parse_arguments(T "" "TIMEOUT" "COMMAND" ${ARGN})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 600)
  endif()
  add_test(NAME ${name} COMMAND ${T_COMMAND})
  set_tests_properties(${name} PROPERTIES
    LABELS integration TIMEOUT ${T_TIMEOUT}
    ENVIRONMENT "SF_BUILD_DIR=${PROJECT_BINARY_DIR};SF_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
endfunction()
