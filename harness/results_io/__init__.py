"""Results in and out: `harness results export` and `harness results import`.

Export writes the newest record of every cell (or every record of one run) as CSV, as JSONL
with the raw samples, or as the PyTorch benchmark database's v3 records, so a dashboard built
for ExecuTorch's benchmarks can ingest ours. Import reads measurements other tools made and
stores them as runs of their own, through the Store's public API: the run's config names the
origin (`config["imported"]`: the tool, the file, its sha256), and every report says so
(harness.report.figures.origin_text). A tool's own summary (benchmark_model's mean of its runs,
AI Hub's one figure) is stored as that tool's figures, never as samples
(harness.store.ToolSummary). docs/results-io.md lists each tool's versions and shapes read.

    cells.py            ImportedCell: one measurement read from a foreign file; ImportFileError
    json_text.py        JSON (one document or JSON lines) and YAML, with the line of any damage
    benchmark_model.py  TFLite's and LiteRT's benchmark_model logs
    xctest.py           XCTest's log lines and xcresulttool's test-results metrics JSON
    executorch_app.py   ExecuTorch's benchmark app benchmark_results.json
    hud_v3.py           PyTorch benchmark database v3 records, in and out
    aihub.py            Qualcomm AI Hub perf.yaml (aihub_devices.yaml: AI Hub's devices)
    importer.py         which reader a file needs, zoo names, and storing cells as runs
    export.py           CSV, JSONL and v3 records out
"""
