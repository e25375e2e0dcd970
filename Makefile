# Fresh machine to green:   make test      Run the demo:   make demo
# Everything installs through scripts/setup.sh (apt + a project-local venv).
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_ARGS ?=
CTEST_ARGS ?=
FUZZ_SECONDS ?= 60
# Clang build for libFuzzer (ASan + UBSan + coverage); parsers only, see fuzz/CMakeLists.txt.
FUZZ_CMAKE = -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug \
  "-DCMAKE_CXX_FLAGS_DEBUG=-O1 -g" -DREGIONLM_FUZZ=ON -DREGIONLM_BUILD_EXAMPLES=OFF \
  -DREGIONLM_BUILD_BENCHMARKS=OFF

.PHONY: all setup configure build test demo sanitize sanitize-all tsan fuzz install clean format

all: build

setup:
	@bash scripts/setup.sh

$(BUILD)/CMakeCache.txt: | setup
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_ARGS)

configure: setup $(BUILD)/CMakeCache.txt

build: configure
	cmake --build $(BUILD) -j $(JOBS)

# All tests: unit, parity (against the Python references in the venv) and slow ones.
test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)
	@$(MAKE) --no-print-directory sanitize

# The checkpoint readers again under AddressSanitizer + UBSan (hostile-file tests).
sanitize: setup
	@test -f $(BUILD)-asan/CMakeCache.txt || cmake -S . -B $(BUILD)-asan -DCMAKE_BUILD_TYPE=Debug \
	  -DREGIONLM_SANITIZE=ON -DREGIONLM_BUILD_EXAMPLES=OFF -DREGIONLM_BUILD_BENCHMARKS=OFF \
	  -DREGIONLM_BUILD_PYTHON=OFF $(CMAKE_ARGS)
	cmake --build $(BUILD)-asan -j $(JOBS) --target test_io_readers
	ASAN_OPTIONS=detect_leaks=0 $(BUILD)-asan/tests/io/test_io_readers

# Every fuzz target for FUZZ_SECONDS (default 60) under ASan + UBSan; fails on any finding
# (docs/reliability.md). CI runs `make fuzz FUZZ_SECONDS=10`.
fuzz: setup
	@test -f $(BUILD)-fuzz/CMakeCache.txt || cmake -S . -B $(BUILD)-fuzz $(FUZZ_CMAKE) -DREGIONLM_BUILD_TESTS=OFF $(CMAKE_ARGS)
	cmake --build $(BUILD)-fuzz -j $(JOBS) --target fuzz_all
	bash scripts/run_fuzz.sh $(BUILD)-fuzz $(FUZZ_SECONDS)

# The whole test suite under ASan + UBSan (a Debug build of everything, examples and their
# CLI, tiny-shapes and server suites included, so not part of `make test`;
# docs/reliability.md says what was run), the Python module too (its tests preload the ASan
# runtime into the venv's Python: tests/python/CMakeLists.txt). Server.faults measures the
# server's resident memory over 1000 requests, which ASan's default 256 MB quarantine of
# freed blocks would inflate: it runs last with a small quarantine.
sanitize-all: setup
	@test -f $(BUILD)-asan/CMakeCache.txt || cmake -S . -B $(BUILD)-asan -DCMAKE_BUILD_TYPE=Debug \
	  -DREGIONLM_SANITIZE=ON -DREGIONLM_BUILD_EXAMPLES=ON -DREGIONLM_BUILD_BENCHMARKS=OFF \
	  -DREGIONLM_BUILD_PYTHON=ON $(CMAKE_ARGS)
	cmake --build $(BUILD)-asan -j $(JOBS)
	cd $(BUILD)-asan && ASAN_OPTIONS=detect_leaks=0 ctest --output-on-failure -j $(JOBS) -E '^Server\.faults$$' $(CTEST_ARGS)
	cd $(BUILD)-asan && ASAN_OPTIONS=detect_leaks=0:quarantine_size_mb=8 ctest --output-on-failure -R '^Server\.faults$$'

# The multi-threaded tests under ThreadSanitizer: a Debug -O1 build (build-tsan) of only the
# test programs that hold them, plus regionlm-server for its suites (so examples stay on).
# scripts/run_tsan.sh names the tests; tests/tsan.supp the uninstrumented libraries.
# By hand, like sanitize-all (docs/reliability.md has the results).
TSAN_TARGETS = test_llm test_pipeline test_sam test_gpt4roi_parity test_server_load test_server_api test_server_faults
tsan: setup
	@test -f $(BUILD)-tsan/CMakeCache.txt || cmake -S . -B $(BUILD)-tsan -DCMAKE_BUILD_TYPE=Debug \
	  "-DCMAKE_CXX_FLAGS_DEBUG=-O1 -g" -DREGIONLM_TSAN=ON -DREGIONLM_BUILD_BENCHMARKS=OFF $(CMAKE_ARGS)
	cmake --build $(BUILD)-tsan -j $(JOBS) --target $(TSAN_TARGETS)
	bash scripts/run_tsan.sh $(BUILD)-tsan

# The bundled models/tiny-shapes on the bundled scene (scripts/demo_parity.sh shows parity
# with the Python reference on a random Osprey checkpoint).
demo: build
	@bash scripts/demo.sh $(BUILD)

install: build
	cmake --install $(BUILD) --prefix $(or $(PREFIX),/usr/local)

format:
	clang-format -i $$(git ls-files '*.cpp' '*.hpp')

clean:
	rm -rf $(BUILD) $(BUILD)-asan $(BUILD)-fuzz $(BUILD)-tsan
