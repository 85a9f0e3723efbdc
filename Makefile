# Convenience targets; the build itself is CMake (tools/setup.sh), the tests ctest (.ci/run).
.PHONY: build test models
build:
	bash tools/setup.sh
test: build
	ctest --test-dir build --output-on-failure
# Retrain the embedded family (Python, Debian's python3-torch; see models/README.md). Not run by CI.
models:
	$(MAKE) -C tools/train models
