# SPDX-License-Identifier: BSL-1.0
cmake_minimum_required(VERSION 3.14)
project(ebb_consumer CXX)
find_package(ebb 0.1 REQUIRED)  # the version from include/ebb/version.hpp
add_executable(consumer main.cpp)
target_link_libraries(consumer PRIVATE ebb::ebb)
