"""The native C++ runner (harness_runner.cpp and its headers) and its CMake build (build.py)."""
