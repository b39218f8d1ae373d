# Install-time part of the install rules (cmake/package.cmake): the systemd unit and the default
# configuration, with paths from the prefix chosen at install time (cmake --install --prefix P, or
# CPack's /usr), so one build serves both. Prefix /usr puts the configuration in /etc (as
# GNUInstallDirs does), any other prefix in <prefix>/etc. An existing configuration is kept.
# Set by the install rule: AIOT_SOURCE_DIR, AIOT_BINARY_DIR, AIOT_BINDIR and AIOT_DOCDIR (relative
# to the prefix).
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(AIOT_CONFDIR /etc/aiot)
else()
  set(AIOT_CONFDIR ${CMAKE_INSTALL_PREFIX}/etc/aiot)
endif()
set(AIOT_DOCDIR ${CMAKE_INSTALL_PREFIX}/${AIOT_DOCDIR})
set(AIOT_BINDIR ${CMAKE_INSTALL_PREFIX}/${AIOT_BINDIR})
set(generated ${AIOT_BINARY_DIR}/aiot-install/aiot.service)
configure_file(${AIOT_SOURCE_DIR}/deploy/systemd/aiot.service.in ${generated} @ONLY)
file(INSTALL ${generated} DESTINATION ${CMAKE_INSTALL_PREFIX}/lib/systemd/system)  # + DESTDIR
if(EXISTS $ENV{DESTDIR}${AIOT_CONFDIR}/aiot.yaml)
  message(STATUS "Kept: $ENV{DESTDIR}${AIOT_CONFDIR}/aiot.yaml (the default is in ${AIOT_DOCDIR}/aiot.yaml)")
else()
  file(INSTALL ${AIOT_SOURCE_DIR}/deploy/aiot.yaml DESTINATION ${AIOT_CONFDIR})
endif()
