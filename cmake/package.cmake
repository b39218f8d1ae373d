# Install rules and the Debian package (issue 16, deploy/README.md).
#   cmake --install build/rel [--prefix P]   binary, dashboard, docs, systemd unit, default config
#   cmake --build build/rel --target aiot_deb   build/rel/package/aiot_<version>_<arch>.deb (CPack)
# Nothing installed depends on the source or build tree: the binary finds its dashboard relative to
# itself (<prefix>/share/aiot/web, src/store/dashboard_routes.cc); the unit and the configuration's
# location follow the prefix chosen at install time (cmake/install_service.cmake).
include(GNUInstallDirs)
if(NOT TARGET aiot)
  return()
endif()

install(TARGETS aiot RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
set(aiot_docdir ${CMAKE_INSTALL_DATADIR}/doc/aiot)
install(FILES README.md docs/deployment.md docs/operations.md docs/topics-and-payloads.md
              deploy/aiot.yaml
        DESTINATION ${aiot_docdir})
install(CODE "
  set(AIOT_SOURCE_DIR \"${PROJECT_SOURCE_DIR}\")
  set(AIOT_BINARY_DIR \"${PROJECT_BINARY_DIR}\")
  set(AIOT_BINDIR \"${CMAKE_INSTALL_BINDIR}\")
  set(AIOT_DOCDIR \"${aiot_docdir}\")
  include(\"${PROJECT_SOURCE_DIR}/cmake/install_service.cmake\")")

# CPack: a Debian package. Installs into /usr; DESTDIR so that the install-time paths (the unit's
# ExecStart, /etc/aiot) are the target system's, not the staging directory's.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME aiot)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR aiot)
set(CPACK_PACKAGE_CONTACT "aiot maintainers <aiot@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "Edge AIoT platform: MQTT broker, streaming predictor, model registry, OTA, dashboard")
set(CPACK_PACKAGE_DESCRIPTION
    "aiot watches rotating machines and tells you before they fail: an MQTT 3.1.1/5.0 broker, a streaming int8 predictor, a telemetry store and dashboard, model and device registries, a training pipeline and OTA model rollouts, in one binary run by the aiot.service systemd unit.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_INSTALL_PREFIX /usr)  # the install prefix CPack uses with DESTDIR
set(CPACK_SET_DESTDIR ON)
set(CPACK_STRIP_FILES ON)
set(CPACK_PACKAGE_DIRECTORY ${PROJECT_BINARY_DIR}/package)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # aiot_<version>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/deploy/debian/postinst ${PROJECT_SOURCE_DIR}/deploy/debian/prerm
    ${PROJECT_SOURCE_DIR}/deploy/debian/postrm ${PROJECT_SOURCE_DIR}/deploy/debian/conffiles)
include(CPack)

add_custom_target(aiot_deb
  COMMAND ${CMAKE_CPACK_COMMAND} -G DEB --config ${PROJECT_BINARY_DIR}/CPackConfig.cmake
  WORKING_DIRECTORY ${PROJECT_BINARY_DIR}
  DEPENDS aiot
  COMMENT "Debian package in ${CPACK_PACKAGE_DIRECTORY}"
  USES_TERMINAL)
