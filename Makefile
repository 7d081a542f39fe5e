# monolith-ps: every target sets itself up; `make test` and `make demo` work on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: install proto test test-docker demo bench lint clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

proto: $(STAMP)
	$(PY) services/pb/generate.py

test: $(STAMP)
	$(PY) -m pytest $(PYTEST_ARGS)

# docker compose up for real on a private engine (needs root and docker.io, docker-compose,
# mmdebstrap); images, build cache and volumes stay in ~/.cache/monolith-ps/docker between runs.
test-docker: $(STAMP)
	MONOLITH_PS_DOCKER_TEST=1 $(PY) -m pytest $(PYTEST_ARGS) tests/deploy/test_docker_compose.py

DEMO_DIR ?= /tmp/monolith-ps-demo

demo: $(STAMP)
	$(VENV)/bin/ps-cluster local --num-ps 2 --num-workers 2 --model-dir $(DEMO_DIR) \
		--config worker/examples/reference.json

bench: $(STAMP)
	command -v redis-server >/dev/null || (apt-get update -qq && apt-get install -y -qq redis-server)
	$(PY) benchmarks/table_kernels.py
	$(VENV)/bin/ps-benchmark run --seconds 40 --json bench-run.json --plot bench-run.png
	$(PY) benchmarks/train_throughput.py
	$(PY) benchmarks/checkpoint_io.py --json bench-checkpoint-io.json

# buf, pinned in tools/proto/package.json, installed into tools/proto/node_modules.
BUF := tools/proto/node_modules/.bin/buf

.PHONY: proto-tools
proto-tools: $(BUF)

$(BUF): tools/proto/package.json tools/proto/package-lock.json
	command -v npm >/dev/null || (apt-get update -qq && apt-get install -y -qq nodejs npm)
	cd tools/proto && npm ci --no-audit --no-fund
	touch $(BUF)

lint: $(STAMP) $(BUF)
	$(PY) -m ruff check .
	cd proto && ../$(BUF) lint
	@if git rev-parse --verify -q HEAD~1 >/dev/null; then \
		echo "buf breaking proto --against HEAD~1"; \
		$(BUF) breaking proto --against '.git#ref=HEAD~1,subdir=proto'; \
	else \
		echo "buf breaking: skipped (no previous commit to compare proto/ against)"; \
	fi

clean:
	rm -rf $(VENV) .pytest_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
