"""The throughput benchmark (`make bench`, `make bench-quick`): the app under gunicorn against
two floors of the same stack, driven by wrk. See bench/run.py and README, "Benchmark"."""
