# Fresh machine to green:   make test      Run the demo:   make demo
# Everything installs through scripts/setup.sh (apt + a project-local venv).
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_ARGS ?=
CTEST_ARGS ?=

.PHONY: all setup configure build test demo sanitize install clean format

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
	  -DREGIONLM_SANITIZE=ON -DREGIONLM_BUILD_EXAMPLES=OFF -DREGIONLM_BUILD_BENCHMARKS=OFF $(CMAKE_ARGS)
	cmake --build $(BUILD)-asan -j $(JOBS) --target test_io_readers
	ASAN_OPTIONS=detect_leaks=0 $(BUILD)-asan/tests/io/test_io_readers

# The trained models/tiny-shapes when shipped; until then the same pipeline on a random
# Osprey checkpoint, checked token for token against the Python reference.
demo: build
	@if [ -f models/tiny-shapes/config.json ] && [ -f scripts/demo.sh ]; then \
	  bash scripts/demo.sh $(BUILD); else bash scripts/demo_parity.sh $(BUILD); fi

install: build
	cmake --install $(BUILD) --prefix $(or $(PREFIX),/usr/local)

format:
	clang-format -i $$(git ls-files '*.cpp' '*.hpp')

clean:
	rm -rf $(BUILD) $(BUILD)-asan
