"""The course's performance benchmark: run `python -m benchmarks.run --help` (or `make benchmark`).

Modules: `execute` (run one notebook, measure it, read its glued values), `report` (JSON, CSV and
Markdown reports and the comparison with a previous one), `time_to_accuracy` (the book's CNN
against the source material's training), `loaders` (per-sample pipeline vs tensors in memory),
`run` (the command line).
"""
