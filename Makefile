# urbanshrink_gis — every target installs what it needs into .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The zonal kernels compiled ahead of time (see src/urbanshrink_gis/zonal/_kernel_build.py).
KERNELS := $(VENV)/.kernels-built
KERNEL_SOURCES := src/urbanshrink_gis/zonal/_kernel_code.py src/urbanshrink_gis/zonal/_kernel_build.py
# Debian packages: QGIS opens the outputs in the export tests; a CJK font renders city names.
APT_PACKAGES := qgis python3-qgis fonts-noto-cjk
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: install apt demo test bench lint clean screenshots

install: apt $(STAMP) $(KERNELS)

# $(call apt_install,PACKAGES): install those of the Debian PACKAGES that are missing.
apt_install = @dpkg -s $(1) >/dev/null 2>&1 || { \
  $(SUDO) apt-get update -qq && \
  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends \
    $(1) >/dev/null; }

apt:
	$(call apt_install,$(APT_PACKAGES))

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# Without a C compiler the build fails and numba compiles the same kernels at first use instead.
$(KERNELS): $(STAMP) $(KERNEL_SOURCES)
	@if $(BIN)/python -m urbanshrink_gis.zonal._kernel_build; then touch $(KERNELS); else \
	  echo "warning: kernels not compiled ahead of time (needs a C compiler, e.g. apt-get install" \
	    "gcc); numba compiles them at first use instead, ~0.3 s more per process" >&2; fi

demo: install
	$(BIN)/urbanshrink run --out outputs/demo --overwrite

test: install
	$(BIN)/python -m pytest -q

# The README's images (docs/*.png) from the demo: QGIS headless, report.html in headless
# Chromium, installed here only (the tests, and CI, do without it).
SCREENSHOT_APT_PACKAGES := chromium

screenshots: install
	$(call apt_install,$(SCREENSHOT_APT_PACKAGES))
	$(BIN)/python docs/screenshots.py

# The benchmark's peers that the tests do not need (xarray-spatial): the `bench` extra.
BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(BIN)/pip install --quiet -e '.[test,bench]'
	touch $(BENCH_STAMP)

bench: install $(BENCH_STAMP)
	$(BIN)/python bench/run.py

lint: $(STAMP)
	$(BIN)/ruff format --check src tests bench docs
	$(BIN)/ruff check src tests bench docs

clean:
	rm -rf $(VENV) outputs bench/.cache src/urbanshrink_gis/zonal/_kernels_aot.*.so
