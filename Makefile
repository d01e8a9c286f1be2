# The two commands operators need: `make preview STACK=<stack>` and `make test`.
# Everything else here is a step of those two, or a developer's helper.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# checkov pins an old `packaging` that clashes with pulumi: it gets a virtualenv of its own.
CHECKOV_VENV := .venv-checkov
STACK  ?= production

.PHONY: help setup preview audit adopt diff test lint typecheck unit bench lock clean

help:
	@echo "make preview STACK=<staging|production>  offline preview: resource tree, build/<stack>/manifests, stack.json"
	@echo "make audit FILE=<state> [REPORT=<file>]   the policy pack over a \`pulumi stack export\` or checkpoint (FILE=/dev/stdin reads stdin),"
	@echo "                                          judging each resource's live values (outputs) where the state has them; drift fails it"
	@echo "make adopt STACK=<stack> LIVE=<dir>       what the first pulumi up does to the live system (docs/adoption.md):"
	@echo "                                          build/<stack>/import.json, adoption.json, adoption.md; blockers fail it"
	@echo "make test                                 ruff, type checker and every test"
	@echo "make bench                                wall time and peak memory of the production preview and of make audit on"
	@echo "                                          generated 5,000- and 50,000-resource states, against their budgets"
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

# A make variable as one shell word, whatever it holds (spaces, quotes).
quote = '$(subst ','\'',$(1))'

preview: setup
	$(PY) -m offline_preview --stack $(STACK) \
	  $(if $(POLICY_PACK_CONFIG),--policy-pack-config $(call quote,$(POLICY_PACK_CONFIG)))

# e.g. `pulumi stack export --stack production > prod.json && make audit FILE=prod.json`, or
# `pulumi stack export | make audit FILE=/dev/stdin`. REPORT=<file> (default build/audit/<stack>.policy-report.json),
# POLICY_PACK_CONFIG=<file> as for `pulumi preview --policy-pack-config`. It judges each resource's outputs (its
# live values) where the state holds them, else its inputs; a mandatory policy only the outputs violate (drift) or
# only the inputs (declared) fails it too. Fails (make exits 2) on any non-zero exit of the audit, saying which it
# was: 1 mandatory violations, 2 unusable input or options, 3 internal error.
audit: setup
	@if [ -z $(call quote,$(FILE)) ]; then \
	  echo "usage: make audit FILE=<state file, or /dev/stdin> [REPORT=<file>] [POLICY_PACK_CONFIG=<file>]" >&2; exit 2; \
	fi; \
	$(PY) -m offline_preview.policy_eval $(call quote,$(FILE)) \
	  $(if $(REPORT),--report $(call quote,$(REPORT))) \
	  $(if $(POLICY_PACK_CONFIG),--policy-pack-config $(call quote,$(POLICY_PACK_CONFIG))); \
	status=$$?; \
	case $$status in \
	  0) ;; \
	  1) echo "make audit: mandatory policy violations (the audit exited 1)" >&2 ;; \
	  2) echo "make audit: the state, the config or an option could not be used (the audit exited 2)" >&2 ;; \
	  3) echo "make audit: internal error of the audit (it exited 3)" >&2 ;; \
	  *) echo "make audit: the audit exited $$status" >&2 ;; \
	esac; \
	exit $$status

# What the first `pulumi up --stack <stack>` does to the live system, offline, from an operator's export
# (docs/adoption.md: the export commands and the phases): writes build/<stack>/import.json, adoption.json and
# adoption.md. Exits 1 with a line per blocker, 2 when the export or the stack file cannot be used, 3 on an
# internal error, saying which.
adopt: setup
	@if [ -z $(call quote,$(LIVE)) ]; then echo "usage: make adopt STACK=<stack> LIVE=<export folder>" >&2; exit 2; fi; \
	$(PY) -m offline_preview.adopt --stack $(call quote,$(STACK)) --live $(call quote,$(LIVE)); \
	status=$$?; \
	case $$status in \
	  0) ;; \
	  1) echo "make adopt: blockers: the first up would destroy or reset live objects (the adoption exited 1)" >&2 ;; \
	  2) echo "make adopt: the export or the stack file could not be used (the adoption exited 2)" >&2 ;; \
	  3) echo "make adopt: internal error of the adoption (it exited 3)" >&2 ;; \
	  *) echo "make adopt: the adoption exited $$status" >&2 ;; \
	esac; \
	exit $$status

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

# The type checker (one core, about 17 s) runs beside the tests; each one's output is shown whole when it ends.
test: lint $(CHECKOV_VENV)/.installed
	@$(MAKE) --no-print-directory -j2 --output-sync=target typecheck unit

bench: setup
	$(PY) -m offline_preview.bench --stack production

lock: setup
	$(PY) -m pip install --quiet uv
	$(VENV)/bin/uv pip compile --generate-hashes --python-version 3.11 --quiet requirements.in -o requirements.txt
	$(VENV)/bin/uv pip compile --generate-hashes --python-version 3.11 --quiet requirements-checkov.in -o requirements-checkov.txt

clean:
	rm -rf build $(VENV) $(CHECKOV_VENV) .pytest_cache .ruff_cache
