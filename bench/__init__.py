"""`python -m bench [--quick]`: the polling, push and socket benchmarks of issue 5."""
