# The two commands operators need: `make preview STACK=<stack>` and `make test`.
# Everything else here is a step of those two, or a developer's helper.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# checkov pins an old `packaging` that clashes with pulumi: it gets a virtualenv of its own.
CHECKOV_VENV := .venv-checkov
STACK  ?= production

.PHONY: help setup preview audit diff test lint typecheck unit bench lock clean

help:
	@echo "make preview STACK=<staging|production>  offline preview: resource tree, build/<stack>/manifests, stack.json"
	@echo "make audit FILE=<stack export>            the policy pack over a \`pulumi stack export\` file"
	@echo "make test                                 ruff, type checker and every test"
	@echo "make bench                                wall time and peak memory of the production preview"
	@echo "make diff BASE=<git ref> [STACK=<stack>]  what \`pulumi preview --diff\` would show between BASE and the working tree"
	@echo "make lock                                 re-pin requirements.in into requirements.txt"

# The virtualenv is rebuilt when the lock file changes; `pulumi up` uses the same one (Pulumi.yaml).
$(VENV)/.installed: requirements.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python 3.11+ is required, found " + sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.txt
	@touch $@

$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check --require-hashes -r requirements-checkov.txt
	@touch $@

setup: $(VENV)/.installed

preview: setup
	$(PY) -m offline_preview --stack $(STACK)

# e.g. `pulumi stack export --stack production > prod.json && make audit FILE=prod.json`
audit: setup
	@test -n "$(FILE)" || { echo "usage: make audit FILE=<pulumi stack export file>"; exit 2; }
	$(PY) -m offline_preview.policy_eval $(FILE) --report $(basename $(FILE)).policy-report.json

# What `pulumi preview --diff` would show between BASE and the working tree, offline: every stack,
# or STACK=<stack> when given; MARKDOWN=<file> also writes it as Markdown (the PR check's summary).
# BASE and STACK reach the command through the environment, never pasted into the shell line.
diff: setup
	@test -n "$$BASE" || { echo "usage: make diff BASE=<git ref> [STACK=<stack>] [MARKDOWN=<file>]"; exit 2; }
	$(PY) -m offline_preview.plan_diff --base "$$BASE" $(if $(filter-out file default undefined,$(origin STACK)),--stack "$$STACK") $(if $(MARKDOWN),--markdown "$$MARKDOWN")

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: setup
	$(VENV)/bin/basedpyright

# One pytest worker per core: the suite is CPU-bound (renders, validators, promtool, checkov).
# loadgroup: tests marked xdist_group share one worker, and so their module-scoped renders.
unit: setup $(CHECKOV_VENV)/.installed
	$(PY) -m pytest -n auto --dist loadgroup

test: lint typecheck unit

bench: setup
	$(PY) -m offline_preview.bench --stack production

lock: setup
	$(PY) -m pip install --quiet uv
	$(VENV)/bin/uv pip compile --generate-hashes --python-version 3.11 --quiet requirements.in -o requirements.txt
	$(VENV)/bin/uv pip compile --generate-hashes --python-version 3.11 --quiet requirements-checkov.in -o requirements-checkov.txt

clean:
	rm -rf build $(VENV) $(CHECKOV_VENV) .pytest_cache .ruff_cache
