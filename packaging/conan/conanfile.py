# SPDX-License-Identifier: BSL-1.0
# Conan 2 recipe for ebb (header-only). From a checkout: `conan create packaging/conan --version 0.1.0`;
# for ConanCenter, the source() method below would download the release archive instead.
import os

from conan import ConanFile
from conan.tools.files import copy
from conan.tools.layout import basic_layout


class EbbConan(ConanFile):
    name = "ebb"
    description = "Header-only C++17 fibers whose stacks grow and shrink in place, like Go's goroutine stacks"
    license = "BSL-1.0"
    url = "https://github.com/ebb-fibers/ebb"
    homepage = "https://github.com/ebb-fibers/ebb"
    topics = ("fibers", "coroutines", "context-switch", "stacks", "header-only")
    package_type = "header-library"
    settings = "os", "arch", "compiler", "build_type"
    no_copy_source = True

    def export_sources(self):
        # The recipe lives in packaging/conan: the sources are two levels up.
        root = os.path.join(self.recipe_folder, "..", "..")
        copy(self, "LICENSE", root, self.export_sources_folder)
        copy(self, "*", os.path.join(root, "include"), os.path.join(self.export_sources_folder, "include"))
        copy(self, "ebb.py", os.path.join(root, "tools", "gdb"), os.path.join(self.export_sources_folder, "gdb"))

    def layout(self):
        basic_layout(self, src_folder=".")

    def validate(self):
        from conan.tools.build import check_min_cppstd
        check_min_cppstd(self, 17)

    def package_id(self):
        self.info.clear()  # one package for every configuration: nothing is compiled

    def package(self):
        copy(self, "LICENSE", self.source_folder, os.path.join(self.package_folder, "licenses"))
        copy(self, "*.hpp", os.path.join(self.source_folder, "include"), os.path.join(self.package_folder, "include"))
        copy(self, "ebb.py", os.path.join(self.source_folder, "gdb"), os.path.join(self.package_folder, "share", "ebb", "gdb"))

    def package_info(self):
        self.cpp_info.bindirs = []
        self.cpp_info.libdirs = []
        self.cpp_info.set_property("cmake_file_name", "ebb")
        self.cpp_info.set_property("cmake_target_name", "ebb::ebb")
        self.cpp_info.set_property("pkg_config_name", "ebb")
        if self.settings.os in ("Linux", "FreeBSD"):
            self.cpp_info.system_libs = ["pthread"]
