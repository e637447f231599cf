# SPDX-License-Identifier: BSL-1.0
# vcpkg port for ebb (header-only). Copy packaging/vcpkg/ebb into an overlay-ports directory, or into
# a registry's ports/ebb, and set REF and SHA512 to the release being packaged.
vcpkg_from_github(
    OUT_SOURCE_PATH SOURCE_PATH
    REPO ebb-fibers/ebb
    REF "v${VERSION}"
    SHA512 0  # the release archive's SHA512 (vcpkg prints it on the first install attempt)
    HEAD_REF main
)

# Header-only: one configuration is enough, and ebb's tests, examples and benchmarks stay off.
set(VCPKG_BUILD_TYPE release)
vcpkg_cmake_configure(
    SOURCE_PATH "${SOURCE_PATH}"
    OPTIONS
        -DEBB_BUILD_TESTS=OFF
        -DEBB_BUILD_EXAMPLES=OFF
        -DEBB_BUILD_BENCH=OFF
)
vcpkg_cmake_install()

# ebb installs its CMake package to share/cmake/ebb (architecture-independent); vcpkg wants share/ebb.
vcpkg_cmake_config_fixup(PACKAGE_NAME ebb CONFIG_PATH share/cmake/ebb)
vcpkg_fixup_pkgconfig()

# Installed beside the headers by ebb's own rules: the licence (vcpkg wants it as copyright) and the
# gdb helper, which stays in share/ebb/gdb/ebb.py.
file(REMOVE_RECURSE "${CURRENT_PACKAGES_DIR}/share/licenses")
file(REMOVE_RECURSE "${CURRENT_PACKAGES_DIR}/debug")
file(INSTALL "${CMAKE_CURRENT_LIST_DIR}/usage" DESTINATION "${CURRENT_PACKAGES_DIR}/share/${PORT}")
vcpkg_install_copyright(FILE_LIST "${SOURCE_PATH}/LICENSE")
