# Two commands for a newcomer: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
PYTEST_WORKERS ?= 2
# pip here warns once per package about optional local index folders that do not exist; keep its real
# messages, drop that noise, and still fail when pip fails (pipefail).
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
QUIET_PIP := 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }

.PHONY: install demo test test-fast bench clean

install: $(VENV)/.installed

# torch/torchvision are pinned to the releases the machine's pip constraint serves from local disk;
# timm needs torchvision, and the CPU-only torch 2.13.0 wheel has no matching torchvision.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip $(QUIET_PIP)
	$(PIP) install -q torch==2.14.1 torchvision==0.29.1 $(QUIET_PIP)
	$(PIP) install -q -e '.[all,test]' $(QUIET_PIP)
	@# One OpenCV: a venv made when the base used opencv-python-headless still has it, and both distributions
	@# own the cv2 files; drop it, then restore opencv-python's files (same version).
	if $(PIP) show -q opencv-python-headless 2>/dev/null; then \
	  $(PIP) uninstall -y -q opencv-python-headless && \
	  $(PIP) install -q --force-reinstall --no-deps "opencv-python==$$($(PY) -c 'import importlib.metadata as m; print(m.version("opencv-python"))')" $(QUIET_PIP); \
	fi
	touch $@

demo: install
	$(PY) scripts/demo.py

test: install
	$(PY) -m pytest -q -n $(PYTEST_WORKERS) --timeout 600

test-fast: install
	$(PY) -m pytest -q -n $(PYTEST_WORKERS) -m "not slow and not browser" --timeout 300

bench: install
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache demo-output
