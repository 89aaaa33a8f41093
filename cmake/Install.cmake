# cmake --install layout and the Debian package (CPack DEB): see scripts/package.sh.
# Destinations are relative to the prefix (GNUInstallDirs) except /var/log/tracekit, so
# with -DCMAKE_INSTALL_PREFIX=/usr this is the layout of the .deb.
if(TRACEKIT_CORE_ONLY)
  return()
endif()

# Every directory the install creates is 0755 whatever the umask (lintian checks them).
set(CMAKE_INSTALL_DEFAULT_DIRECTORY_PERMISSIONS
  OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
set(TRACEKIT_MAINTAINER "tracekit maintainers <maintainers@users.noreply.b-seed-345c2de6.example>"
  CACHE STRING "Maintainer of the Debian package (name <address>)")
find_program(GZIP_PROGRAM gzip REQUIRED)

# --- programs: the tools (root's tools: sbin), and the compile helper they fork --------
install(TARGETS ${TRACEKIT_TOOLS} tracekit-doctor RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR})
# bpf_program.cc's compiler_path() finds it there: <sbin>/../libexec/tracekit, or the
# compiled-in TRACEKIT_LIBEXECDIR (the same directory under the configured prefix).
install(TARGETS tracekit-compile RUNTIME DESTINATION ${CMAKE_INSTALL_LIBEXECDIR}/tracekit)

# tracekit_gzip(OUT name SOURCE file): build/packaging/<name>.gz, gzip -9n (no name, no
# time stamp: the same bytes every build), remade when the source changes.
set(tracekit_pkg_dir ${CMAKE_BINARY_DIR}/packaging)
file(MAKE_DIRECTORY ${tracekit_pkg_dir})
set(tracekit_gzipped "")
function(tracekit_gzip out source)
  add_custom_command(OUTPUT ${tracekit_pkg_dir}/${out}.gz
    COMMAND ${CMAKE_COMMAND} -E copy ${source} ${tracekit_pkg_dir}/${out}
    COMMAND ${GZIP_PROGRAM} -9nf ${tracekit_pkg_dir}/${out}
    DEPENDS ${source} VERBATIM)
  set(tracekit_gzipped ${tracekit_gzipped} ${tracekit_pkg_dir}/${out}.gz PARENT_SCOPE)
endfunction()

# --- man pages: packaging/man/*.8, compressed as Debian policy wants --------------------
# CONFIGURE_DEPENDS: a page added later is picked up by the next build.
file(GLOB tracekit_man_pages CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/packaging/man/*.8)
set(tracekit_man_gz "")
foreach(page ${tracekit_man_pages})
  get_filename_component(name ${page} NAME)
  tracekit_gzip(${name} ${page})
  list(APPEND tracekit_man_gz ${tracekit_pkg_dir}/${name}.gz)
endforeach()
if(tracekit_man_gz)
  install(FILES ${tracekit_man_gz} DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)
endif()

# --- bash completion: one script for every command, found by bash-completion under each
# command's name: the script once as execve_dumb, the others symlinks to it.
set(tracekit_completions ${CMAKE_INSTALL_DATADIR}/bash-completion/completions)
install(FILES packaging/bash-completion/tracekit DESTINATION ${tracekit_completions} RENAME execve_dumb)
foreach(command execve_enriched tcp_tracker tcp_duration tracekit-doctor)
  install(CODE "file(CREATE_LINK execve_dumb
    \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${tracekit_completions}/${command}\" SYMBOLIC)
    message(STATUS \"Installing: \$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${tracekit_completions}/${command} -> execve_dumb\")")
endforeach()

# --- systemd units, shipped disabled (no maintainer script enables or starts one) -------
# The sources name the package's paths (prefix /usr); another prefix (cmake --install
# into /usr/local) gets its own, so the units and the logrotate rule find what it installed.
function(tracekit_install_with_paths src destination)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${src})
  file(READ ${src} text)
  string(REPLACE "/usr/sbin/" "${CMAKE_INSTALL_FULL_SBINDIR}/" text "${text}")
  string(REPLACE "/var/log/tracekit" "${CMAKE_INSTALL_FULL_LOCALSTATEDIR}/log/tracekit" text "${text}")
  string(REPLACE "/usr/share/doc/tracekit" "${CMAKE_INSTALL_FULL_DOCDIR}" text "${text}")
  get_filename_component(name ${src} NAME)
  file(WRITE ${tracekit_pkg_dir}/paths/${name} "${text}")
  install(FILES ${tracekit_pkg_dir}/paths/${name} DESTINATION ${destination})
endfunction()
file(GLOB tracekit_units CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/packaging/systemd/*.service)
foreach(unit ${tracekit_units})
  tracekit_install_with_paths(${unit} lib/systemd/system)
endforeach()
# The units' StandardOutput=append: files: PID 1 opens them before it creates a
# LogsDirectory=, so the directory comes with the package (root's, 0755).
install(DIRECTORY DESTINATION ${CMAKE_INSTALL_FULL_LOCALSTATEDIR}/log/tracekit)
# execve_enriched's unit writes a line per exec: rotated weekly or at 100 MB (a conffile).
tracekit_install_with_paths(${CMAKE_SOURCE_DIR}/packaging/logrotate/tracekit ${CMAKE_INSTALL_FULL_SYSCONFDIR}/logrotate.d)

# --- documentation: the README and docs/ as in the tree (their links stay right) -------
install(FILES README.md packaging/debian/copyright DESTINATION ${CMAKE_INSTALL_DOCDIR})
file(GLOB tracekit_docs CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/docs/*.md)
install(FILES ${tracekit_docs} docs/alerts.yml docs/tcp_duration.png DESTINATION ${CMAKE_INSTALL_DOCDIR}/docs)
# The changelog: one entry for this version, dated SOURCE_DATE_EPOCH when it is set
# (scripts/package.sh sets the last commit's time), else now. The version has no Debian
# revision (a native package: the tree is its own upstream), so policy 12.7 and lintian
# want changelog.gz, not changelog.Debian.gz.
string(TIMESTAMP TRACEKIT_CHANGELOG_DATE "%a, %d %b %Y %H:%M:%S +0000" UTC)
configure_file(packaging/debian/changelog.in ${tracekit_pkg_dir}/changelog.in @ONLY)
tracekit_gzip(changelog ${tracekit_pkg_dir}/changelog.in)
install(FILES ${tracekit_pkg_dir}/changelog.gz DESTINATION ${CMAKE_INSTALL_DOCDIR})

add_custom_target(tracekit_packaging_files ALL DEPENDS ${tracekit_gzipped})
# Everything the install needs, and nothing else (scripts/package.sh builds only this).
add_custom_target(tracekit_installed)
add_dependencies(tracekit_installed ${TRACEKIT_TOOLS} tracekit-doctor tracekit-compile tracekit_packaging_files)

# --- the .deb (cpack -G DEB in build-deb/, scripts/package.sh) -------------------------
execute_process(COMMAND dpkg --print-architecture OUTPUT_VARIABLE tracekit_deb_arch
  OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME tracekit)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT ${TRACEKIT_MAINTAINER})
set(CPACK_DEBIAN_PACKAGE_MAINTAINER ${TRACEKIT_MAINTAINER})
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # tracekit_<version>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION "native eBPF tracing tools: execs, TCP flows, TCP lifetimes
Small C++ ports of four Python-bcc tools, for operators who reach for bcc's
Python tools or bpftrace: execve_dumb counts execve() calls per user, cgroup
or systemd unit; execve_enriched prints one line per execve() with its
parent, user, cgroup, argv and result; tcp_tracker counts bytes and packets
per TCP flow on an interface, with each flow's owner; tcp_duration measures
TCP connection lifetimes and draws a histogram.

Each tool compiles its BPF program with bcc on the first start and keeps it
in /var/cache/tracekit, prints text or JSON lines, exports Prometheus
metrics, and runs without root with a few capabilities (systemd units
included, not enabled).")
# The run-time libraries are what dpkg-shlibdeps finds in the binaries. Loaded at run
# time instead of linked: PLplot's cairo driver (tcp_duration's plsdev("pngcairo")).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "plplot-driver-cairo")
# bcc compiles against the running kernel's headers (the tools fall back to the newest
# linux-headers-* under /usr/src): the metapackage follows the kernel.
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "linux-headers-${tracekit_deb_arch}")
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${CMAKE_SOURCE_DIR}/packaging/debian/conffiles)
# DESTDIR staging, so that the absolute destinations (/var/log/tracekit, /etc/logrotate.d) are packaged
# rather than created on the build host.
set(CPACK_SET_DESTDIR ON)
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_SOURCE_GENERATOR "")
include(CPack)
