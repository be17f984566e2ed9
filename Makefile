# defragsim developer tasks.  `make test` is the test command CI runs (via .ci/run).
PYTHON ?= python3
VENV   := .venv
VPY    := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: venv demo test lab clean

venv: $(STAMP)

# Re-installs whenever pyproject.toml is newer than the stamp.
$(STAMP): pyproject.toml
	test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --upgrade pip
	$(VENV)/bin/pip install -e '.[notebooks,test]'
	touch $@

demo: venv
	$(VENV)/bin/defragsim demo --out out

# tests/ is plain pytest; --nbmake also collects and runs notebooks/*.ipynb.
# pytest exits 5 when no test ran, so make (and .ci/run) fail in that case too.
# The numba cache path is made absolute: nbmake runs kernels in the notebook's folder.
test: venv
	NUMBA_CACHE_DIR=$${NUMBA_CACHE_DIR:-$$(pwd)/.numba-cache} $(VPY) -m pytest tests notebooks --nbmake --nbmake-timeout=300 -p no:cacheprovider -q

lab: venv
	$(VENV)/bin/jupyter lab notebooks/

clean:
	rm -rf $(VENV) out .numba-cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
