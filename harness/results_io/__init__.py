"""Results in and out: `harness results export` and `harness results import`.

Export writes the newest record of every cell (or every record of one run) as CSV, as JSONL
with the raw samples, or as the PyTorch benchmark database's v3 records, so a dashboard built
for ExecuTorch's benchmarks can ingest ours. Import reads measurements other tools made and
stores them as runs of their own, through the Store's public API and with no change to its
schema: the run's config names the origin (`config["imported"]`: the tool, the file, its
sha256), and every report says so (harness.report.format.origin_text).

    cells.py        ImportedCell: one measurement read from a foreign file; ImportFileError
    text_logs.py    TFLite's benchmark_model log and XCTest's performance log lines
    json_files.py   ExecuTorch's benchmark_results.json, PyTorch v3 records, AI Hub perf.yaml
    importer.py     which reader a file needs, zoo names, and storing cells as runs
    export.py       CSV, JSONL and v3 records out
"""
