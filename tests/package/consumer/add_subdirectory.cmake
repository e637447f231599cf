# SPDX-License-Identifier: BSL-1.0
cmake_minimum_required(VERSION 3.14)
project(ebb_consumer CXX)
add_subdirectory(ebb)  # a vendored copy: ebb's tests and examples stay off (not the top level)
add_executable(consumer main.cpp)
target_link_libraries(consumer PRIVATE ebb::ebb)
