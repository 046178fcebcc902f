"""Benchmarks of electra_tf, each against a peer measured in the same run, printing a Markdown table (peer, ours,
ratio). Run from the checkout as modules, e.g. `python -m bench.bench_encoder --help`; they import the installed
(or PYTHONPATH) electra_tf. Not part of the package; shared helpers are in `bench.common`."""
