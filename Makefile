.PHONY: demo test lint bench bundle smoke clean

demo:  ## start the app on the demo workspace
	bash scripts/demo.sh

test:  ## lint and run every test
	bash scripts/test.sh

bundle:  ## build the Linux bundle and tarball in dist/ (installer/build.py)
	bash scripts/build_bundle.sh

smoke:  ## run the frozen bundle's smoke test (build it first: make bundle)
	python3 installer/smoke_test.py

lint:
	.venv/bin/ruff check desktop tests benchmarks scripts installer

bench:  ## print the benchmark figures (see benchmarks/)
	.venv/bin/python benchmarks/registry_bench.py
	.venv/bin/python benchmarks/drift_bench.py

clean:
	rm -rf .venv build dist *.egg-info .pytest_cache .ruff_cache
