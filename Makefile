.PHONY: demo test lint bench clean

demo:  ## start the app on the demo workspace
	bash scripts/demo.sh

test:  ## lint and run every test
	bash scripts/test.sh

lint:
	.venv/bin/ruff check desktop tests benchmarks

bench:  ## print the benchmark figures (see benchmarks/)
	.venv/bin/python benchmarks/registry_bench.py
	.venv/bin/python benchmarks/drift_bench.py

clean:
	rm -rf .venv build dist *.egg-info .pytest_cache .ruff_cache
