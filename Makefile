# Apache Airflow and Prefect cannot share one environment, so each has its own (README "Environments").
# Each engine is also tested at the oldest line pyproject declares (the *-oldest environments).
ENVS := airflow prefect airflow-oldest prefect-oldest

.PHONY: setup setup-main test lint typecheck test-airflow test-airflow-suites test-airflow-e2e \
	test-core-suites test-airflow-engine-suites test-prefect test-oldest test-oldest-airflow \
	test-oldest-prefect test-distributed test-sdk \
	test-browser test-wheel dist demo bench emulator lock clean

setup:
	@for env in $(ENVS); do scripts/setup-env.sh $$env || exit 1; done

# The newest-release environments only: enough for the demo, the benchmarks and the emulator.
setup-main:
	@scripts/setup-env.sh airflow
	@scripts/setup-env.sh prefect

lint: setup
	.venvs/airflow/bin/ruff check .
	.venvs/airflow/bin/ruff format --check .

typecheck: setup
	.venvs/airflow/bin/mypy cyberdesk_core cyberdesk_emulator cyberdesk_airflow
	.venvs/prefect/bin/mypy cyberdesk_core cyberdesk_prefect
	.venvs/airflow/bin/mypy example_dags/airflow scripts/demo/main.py scripts/demo/demo_procs.py \
		scripts/demo/demo_progress.py scripts/demo/demo_summary.py scripts/demo/demo_events.py \
		scripts/demo/airflow_pipeline.py scripts/check_dist.py scripts/wheel_smoke.py
	.venvs/prefect/bin/mypy example_dags/prefect scripts/demo/prefect_pipeline.py scripts/wheel_smoke.py
	.venvs/airflow/bin/mypy tests/core tests/emulator
	@scripts/setup-env.sh browser
	.venvs/airflow/bin/mypy --python-executable .venvs/browser/bin/python tests/browser
	.venvs/prefect/bin/mypy tests/core
	.venvs/airflow/bin/mypy tests/airflow_harness.py tests/docs_examples.py tests/examples/airflow \
		tests/reliability/airflow
	.venvs/airflow/bin/mypy tests/reliability/core
	.venvs/prefect/bin/mypy tests/examples/prefect
	.venvs/prefect/bin/mypy tests/prefect
	.venvs/prefect/bin/mypy tests/reliability/prefect
	.venvs/airflow/bin/mypy tests/airflow
	.venvs/airflow/bin/mypy tests/e2e/airflow tests/e2e/distributed/services.py tests/e2e/distributed/airflow
	.venvs/prefect/bin/mypy tests/e2e/distributed/prefect tests/e2e/airflow/airflow_stack.py \
		tests/e2e/airflow/airflow_env.py tests/e2e/airflow/airflow_canary.py

test-airflow: test-airflow-suites test-airflow-e2e

test-airflow-suites: test-core-suites test-airflow-engine-suites

# The engine-free suites (one Python process each, no servers but the emulator), in the Airflow
# environment: both locks pin the same httpx and pydantic.
test-core-suites: setup
	scripts/run-tests.sh airflow tests/core tests/emulator tests/reliability/core

test-airflow-engine-suites: setup
	scripts/run-tests.sh airflow tests/airflow tests/examples/airflow tests/reliability/airflow

# Real Airflow services (api-server, scheduler, dag-processor, triggerer) on SQLite.
test-airflow-e2e: setup
	scripts/run-tests.sh airflow tests/e2e/airflow

# tests/core runs once, in the Airflow environment: both locks pin the same httpx and pydantic.
test-prefect: setup
	scripts/run-tests.sh prefect tests/prefect tests/examples/prefect tests/reliability/prefect

test-oldest: test-oldest-airflow test-oldest-prefect

# A DeprecationWarning from our own modules fails the newest environments (pyproject's
# filterwarnings); on the oldest lines it is shown, not fatal: the newest API may not exist there.
# `-o` replaces pyproject's filterwarnings list (-W would match the module name exactly, not as
# the prefix `cyberdesk_`).
OWN_DEPRECATIONS_SHOWN := -o filterwarnings=default::DeprecationWarning:cyberdesk_

test-oldest-airflow: setup
	PYTEST_ARGS="$(OWN_DEPRECATIONS_SHOWN)" scripts/run-tests.sh airflow-oldest tests/airflow

test-oldest-prefect: setup
	PYTEST_ARGS="$(OWN_DEPRECATIONS_SHOWN)" scripts/run-tests.sh prefect-oldest tests/prefect

# Production-shaped stacks (PostgreSQL, Redis, Celery, two triggerers): Debian packages installed when missing.
test-distributed: setup
	scripts/setup-services.sh
	scripts/run-tests.sh airflow tests/e2e/distributed/airflow
	scripts/run-tests.sh prefect tests/e2e/distributed/prefect

# The README's test command. Side by side, each printed whole when it ends: the engine-free suites
# (one core) with the Airflow suites; the two oldest-release suites (dag.test and a Prefect test
# server, no services) with the wheel smoke test. The stacks of real services run alone. (The newest-release suites side by side took as long as one after
# the other: 985 s, the two cores busy throughout.)
test: lint typecheck test-sdk test-browser
	$(MAKE) --no-print-directory -j2 --output-sync=target test-core-suites \
		test-airflow-engine-suites
	$(MAKE) --no-print-directory test-prefect
	$(MAKE) --no-print-directory -j3 --output-sync=target test-oldest-airflow test-oldest-prefect \
		test-wheel
	$(MAKE) --no-print-directory test-airflow-e2e
	$(MAKE) --no-print-directory test-distributed

# The sdist and the wheel, built by `uv build` (the wheel from the sdist, so the sdist is proven
# complete) and checked: `twine check --strict` (metadata fields, the README renders as the PyPI
# page) from the locked release environment, then scripts/check_dist.py (packages, py.typed, entry
# points, LICENSE, no tests, the version of cyberdesk_core/_version.py).
dist:
	@scripts/setup-env.sh release
	rm -rf dist
	uv build --quiet --out-dir dist
	.venvs/release/bin/twine check --strict dist/*
	.venvs/release/bin/python scripts/check_dist.py dist

# The built wheel, not the checkout: a fresh environment per engine with its locked constraints,
# then the provider / blocks registered and one DAG / one flow against the emulator
# (scripts/wheel-smoke.sh). `setup` first: uv then installs from its warm cache.
test-wheel: setup dist
	scripts/wheel-smoke.sh

demo: setup-main
	scripts/demo.sh

bench: setup-main
	scripts/bench.sh

# Cyberdesk's official Python SDK (its own environment, without this project) against the
# emulator, which the test starts as a subprocess of the airflow environment.
test-sdk:
	@scripts/setup-env.sh airflow
	@scripts/setup-env.sh cyberdesk-sdk
	.venvs/cyberdesk-sdk/bin/python -m pytest -p no:cacheprovider -q -c tests/sdk/pytest.ini tests/sdk

# The emulator's run page in a real browser: headless Debian chromium (installed when missing)
# driven by Playwright from its own environment, without this project; the emulator runs as a
# subprocess of the airflow environment.
test-browser:
	@scripts/setup-env.sh airflow
	@scripts/setup-browser.sh
	@scripts/setup-env.sh browser
	.venvs/browser/bin/python -m pytest -c tests/browser/pytest.ini tests/browser

emulator: setup-main
	.venvs/airflow/bin/cyberdesk-emulator serve

lock:
	@for env in $(ENVS); do \
		uv pip compile requirements/$$env.in --python-version 3.11 --no-emit-package cyberdesk-orchestration \
			-o requirements/$$env.lock.txt || exit 1; \
	done
	uv pip compile requirements/cyberdesk-sdk.in --python-version 3.11 -o requirements/cyberdesk-sdk.lock.txt
	uv pip compile requirements/browser.in --python-version 3.11 -o requirements/browser.lock.txt
	uv pip compile requirements/release.in --python-version 3.11 -o requirements/release.lock.txt

clean:
	rm -rf .venvs .mypy_cache .ruff_cache .pytest_cache dist
