# Convenience wrappers around dev.py (which needs only Python 3.11+ and pip).
PYTHON ?= python3

.PHONY: demo test lab clean

demo:
	$(PYTHON) dev.py demo

test:
	$(PYTHON) dev.py test

lab:
	$(PYTHON) dev.py lab

clean:
	rm -rf .venv out .numba-cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
