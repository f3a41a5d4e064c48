# Two environments, because Apache Airflow and Prefect cannot share one (see README "Environments").
.PHONY: setup test lint typecheck test-airflow test-prefect demo bench emulator lock clean

setup:
	@scripts/setup-env.sh airflow
	@scripts/setup-env.sh prefect

lint: setup
	.venvs/airflow/bin/ruff check .
	.venvs/airflow/bin/ruff format --check .

typecheck: setup
	.venvs/airflow/bin/mypy cyberdesk_core cyberdesk_emulator cyberdesk_airflow
	.venvs/prefect/bin/mypy cyberdesk_core cyberdesk_prefect

test-airflow: setup
	scripts/run-tests.sh airflow tests/core tests/emulator tests/airflow

test-prefect: setup
	scripts/run-tests.sh prefect tests/core tests/prefect

test: lint typecheck test-airflow test-prefect

demo: setup
	scripts/demo.sh

bench: setup
	scripts/bench.sh

emulator: setup
	.venvs/airflow/bin/cyberdesk-emulator serve

lock:
	uv pip compile requirements/airflow.in --python-version 3.11 --no-emit-package cyberdesk-orchestration -o requirements/airflow.lock.txt
	uv pip compile requirements/prefect.in --python-version 3.11 --no-emit-package cyberdesk-orchestration -o requirements/prefect.lock.txt

clean:
	rm -rf .venvs .mypy_cache .ruff_cache .pytest_cache
