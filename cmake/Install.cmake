# cmake --install layout and the Debian package (CPack DEB): see scripts/package.sh.
