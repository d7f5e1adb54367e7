# Chapterhouse. `make run` sets up and serves the embedded default; `make test` runs lint + tests.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed

# A Python >= 3.12: $PYTHON, python3.13/3.12 on PATH, or pyenv's.
find_python = $(shell for c in "$$PYTHON" python3.13 python3.12 python3 \
	$$(ls -d $$(pyenv root 2>/dev/null)/versions/3.1[2-9]*/bin/python3 2>/dev/null | sort -rV); do \
	[ -n "$$c" ] && "$$c" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null && { command -v "$$c" || echo "$$c"; } && break; done)

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml constraints.txt
	@py="$(find_python)"; if [ -z "$$py" ]; then \
	  echo "Chapterhouse needs Python >= 3.12 (Django 6.1). Install python3.12+ or set PYTHON=/path/to/python3.12." >&2; exit 1; fi; \
	  [ -x $(PY) ] || { echo "Creating $(VENV) with $$py"; "$$py" -m venv $(VENV); }
	$(PIP) install -q --upgrade pip
	$(PY) -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml","rb"))["project"]["dependencies"]))' > $(VENV)/requirements.txt
	$(PIP) install -q -c constraints.txt -r $(VENV)/requirements.txt --group dev
	$(PIP) check
	@touch $(STAMP)

install: $(STAMP) ## Create .venv and install the pinned dependencies
	@scripts/system-deps.sh

run: install ## Set up (migrate, content check, admin login, eBooks) and serve http://127.0.0.1:8000
	$(PY) manage.py migrate --no-input
	$(PY) manage.py check_content
	$(PY) manage.py collectstatic --no-input -v0
	$(PY) manage.py ensure_admin
	$(PY) manage.py build_ebooks
	$(PY) manage.py runserver 127.0.0.1:8000

test: install ## Lint, then the whole test suite (PostgreSQL/Redis from env, or throwaway local ones)
	@scripts/system-deps.sh --e2e
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) manage.py check_content
	$(PY) tests/run.py $(PYTEST_ARGS)

lint: install ## Ruff lint and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

fmt: install ## Format and autofix
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

lock: ## Re-resolve constraints.txt from pyproject.toml (needs network to the package index)
	rm -rf var/lockenv && "$(find_python)" -m venv var/lockenv
	var/lockenv/bin/pip install -q --upgrade pip
	var/lockenv/bin/python -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml","rb"))["project"]["dependencies"]))' > var/lockenv/req.txt
	var/lockenv/bin/pip install -q -r var/lockenv/req.txt --group dev
	var/lockenv/bin/pip freeze --exclude-editable > constraints.txt

.PHONY: help install run test lint fmt lock
