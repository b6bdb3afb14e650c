"""Trust boundaries, imported files (issue 26, points 7-10; docs/security.md): a results file is
whatever its author made it, so `harness results import` reads it as hostile.

- Figures that are not finite non-negative milliseconds, fields of the wrong type, keys that are
  not text, nesting deeper than a reader goes, integers of thousands of digits: each one line
  naming the file, the place and what was expected, exit 1, and nothing stored (the runs stored
  before are kept, no empty "interrupted" run is left).
- A YAML alias bomb is refused before anything is built from it; what one import stores is
  bounded (`--max-cells`, `--max-samples`), the refusal naming the limit and how to raise it.
- Exports stream, and a JSONL line repeats only its run's header, whatever the run holds.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from harness.cli import main
from harness.store import Store
from tests.support.cli import harness_cli, one_line
from tests.support.paths import TESTS

DATA = TESTS / "data" / "results_io"


def _v3(values=(1.0, 1.2), name="m", **parts) -> dict:
    record = {"benchmark": {"name": "bench", "extra_info": {}},
              "model": {"name": name, "backend": "xnnpack", "extra_info": {}},
              "metric": {"name": "avg_inference_latency(ms)", "benchmark_values": list(values),
                         "extra_info": {}},
              "runners": [{"name": "Pixel 8", "type": "Android 14", "cpu_info": ""}]}
    for key, value in parts.items():
        record[key] = value
    return record


def _aihub(metrics: str) -> str:
    return ("precisions:\n  float:\n    components:\n      m:\n        performance_metrics:\n"
            + metrics)


def _executorch(value) -> list:
    return [{"benchmarkModel": {"name": "mv3", "backend": "xnnpack"}, "metric":
             "peak_inference_mem_usage(mb)", "actualValue": value, "deviceInfo": {"device": "P"}}]


XCTEST = ("Test Case '-[M.C test_a]' measured [Clock Monotonic Time, s] average: 0.004, "
          "relative standard deviation: 1.0%, values: [{values}], "
          "performanceMetricID:com.apple.dt.XCTMetric_Clock.time.monotonic\n")

HOSTILE = [
    # Figures (point 7): parsed by Python's json as it reads JSON's NaN and Infinity.
    ("nan.json", f"[{json.dumps(_v3([1.0, float('nan')]))}]",
     "at [0].metric.benchmark_values[1]: expected a finite number, not nan"),
    ("inf.json", f"[{json.dumps(_v3([float('inf')]))}]",
     "at [0].metric.benchmark_values[0]: expected a finite number, not inf"),
    ("negative.json", json.dumps([_v3([1.0, -2.0])]),
     "at [0].metric.benchmark_values[1]: expected a number of at least 0, not -2.0"),
    ("negative.log", XCTEST.format(values="0.005, -0.001"),
     "at a / unknown: expected finite, non-negative milliseconds, not -1.0 (a sample)"),
    ("huge_exponent.yaml", _aihub("          dev: {tflite: {inference_time_milliseconds: 1.0e+999}}\n"),
     "inference_time_milliseconds: expected a finite number, not inf"),
    # Types (point 8).
    ("runners_dict.json", json.dumps([_v3(runners={"name": "x"})]),
     "at [0].runners: expected a list, not {'name': 'x'}"),
    ("runners_text.json", json.dumps([_v3(runners="Pixel")]), "at [0].runners: expected a list, not 'Pixel'"),
    ("int_backend.json", json.dumps([_v3(model={"name": "m", "backend": 5})]),
     "at [0].model.backend: expected text, not 5"),
    ("name_list.json", json.dumps([_v3(name=["a", "b"])]), "at [0].model.name: expected text, not ['a', 'b']"),
    ("memory_text.json", json.dumps(_executorch("lots")), "at [0].actualValue: expected a number, not 'lots'"),
    ("date_key.yaml", "precisions:\n  2024-01-01:\n    components: {}\n",
     "at precisions: expected text keys, not the date 2024-01-01 (quote it)"),
    ("mixed_keys.yaml", _aihub("          1: {tflite: {inference_time_milliseconds: 1.0}}\n"
                               "          dev: {tflite: {inference_time_milliseconds: 1.0}}\n"),
     "performance_metrics: expected text keys, not the int 1 (quote it)"),
    ("text_time.yaml", _aihub("          dev: {tflite: {inference_time_milliseconds: '1.0'}}\n"),
     "inference_time_milliseconds: expected a number, not '1.0'"),
    ("deep.json", "[" * 100_000 + "]" * 100_000, "expected data nested at most 64 deep"),
    ("deep.yaml", "models: " + "[" * 10_000 + "]" * 10_000 + "\n", "expected data nested at most 64 deep"),
    ("nested.json", json.dumps([_v3(model={"name": "m", "extra_info": {"a": [[[[[[[[1]]]]]]]]}})]
                               ).replace("1]]", "[" * 60 + "1" + "]" * 60 + "]]"),
     "expected data nested at most 64 deep"),
    ("digits.json", json.dumps([_v3([1.0, 2.5])]).replace("2.5", "9" * 5000),
     "line 1: expected numbers of at most 4300 digits"),
    ("digits.yaml", _aihub(f"          dev: {{tflite: {{inference_time_milliseconds: {'9' * 5000}}}}}\n"),
     "line 6: expected numbers of at most 4300 digits"),
    ("not_a_number.log", XCTEST.format(values="0.005, abc"), "line 1: expected XCTest's"),
    ("summary.json", json.dumps([_v3(benchmark={"name": "harness"}, metric={
        "name": "avg_inference_latency(ms)", "benchmark_values": [1.0],
        "extra_info": {"tool_summary": json.dumps({"tool": "t", "statistic": "mean", "value_ms": "x"})}})]),
     "metric.extra_info.tool_summary value_ms: expected a number, not 'x'"),
]


@pytest.fixture(scope="module")
def kept(tmp_path_factory):
    """A database holding one good import: what every refused file must leave as it was."""
    db = tmp_path_factory.mktemp("imports") / "h.db"
    out = CliRunner().invoke(main, ["results", "import", str(DATA / "executorch_benchmark_results.json"),
                                    "--db", str(db)])
    assert out.exit_code == 0, out.output
    with Store(db, readonly=True) as store:
        return db, [(r.id, r.status) for r in store.runs()], [r.id for r in store.records()]


def _unchanged(kept) -> bool:
    db, runs, records = kept
    with Store(db, readonly=True) as store:
        return [(r.id, r.status) for r in store.runs()] == runs and [r.id for r in store.records()] == records


@pytest.mark.parametrize("name, content, expected", HOSTILE, ids=[h[0] for h in HOSTILE])
def test_a_hostile_file_is_one_line_naming_the_place_and_stores_nothing(tmp_path, kept, name, content, expected):
    path = tmp_path / name
    path.write_text(content)
    out = CliRunner().invoke(main, ["results", "import", str(path), "--db", str(kept[0])])
    assert out.exit_code == 1, out.output
    line = one_line(out.output)
    assert line.startswith(f"Error: {path}") and expected in line and line.endswith("nothing was stored.")
    assert _unchanged(kept)


def test_a_yaml_alias_bomb_is_refused_before_it_expands(tmp_path, kept):
    bomb = "precisions:\n  a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"  {c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi"))
    assert len(bomb) < 1000  # 9**9, 387 million values, once expanded
    path = tmp_path / "bomb.yaml"
    path.write_text(bomb)
    out = harness_cli("results", "import", path, "--db", kept[0], check=1, timeout=60)
    assert "expected at most 100,000 values in the whole file" in one_line(out.stderr)
    assert _unchanged(kept)


def test_what_one_import_stores_is_bounded_and_the_bound_says_how_to_raise_it(tmp_path):
    db = str(tmp_path / "h.db")
    perf = str(DATA / "aihub_perf.yaml")  # 3 cells
    out = CliRunner().invoke(main, ["results", "import", perf, "--db", db, "--max-cells", "2"])
    assert out.exit_code == 1
    assert "expected at most 2 cells, not 3 (--max-cells 3 imports them all)" in one_line(out.output)
    log = tmp_path / "many.log"  # 40 tests of 5 values: 200 samples
    log.write_text("".join(XCTEST.replace("test_a", f"test_{i}").format(values="0.001, 0.002, 0.003, 0.004, 0.005")
                           for i in range(40)))
    out = CliRunner().invoke(main, ["results", "import", str(log), "--db", db, "--max-cells", "10"])
    assert "expected at most 10 cells, not up to 40, one per test (--max-cells 40" in one_line(out.output)
    out = CliRunner().invoke(main, ["results", "import", str(log), "--db", db, "--max-samples", "150"])
    assert "at most 150 samples in all, not 200 (--max-samples 200 imports them all)" in one_line(out.output)
    with Store(db, readonly=True) as store:
        assert store.runs() == []
    out = CliRunner().invoke(main, ["results", "import", str(log), "--db", db, "--max-cells", "40"])
    assert out.exit_code == 0 and "40 cells imported" in out.output


def test_a_jsonl_line_repeats_its_run_s_header_not_its_lists(tmp_path):
    """The export of a run of many cells: every line about as long as in a run of few (the run's
    models are not repeated on each), each holding its own samples; written piece by piece."""
    lengths = {}
    for tests in (5, 200):
        db = tmp_path / f"{tests}.db"
        log = tmp_path / f"{tests}.log"
        log.write_text("".join(XCTEST.replace("test_a", f"test_model_{i:04d}").format(values="0.001, 0.002")
                               for i in range(tests)))
        CliRunner().invoke(main, ["results", "import", str(log), "--db", str(db), "--max-cells", "1000"])
        out = CliRunner().invoke(main, ["results", "export", "--format", "jsonl", "--db", str(db)])
        lines = out.output.splitlines()
        assert len(lines) == tests
        first = json.loads(lines[0])
        assert "models" not in first["run"] and first["run"]["id"] and first["samples_ms"] == [[1.0, 2.0]]
        lengths[tests] = max(len(line) for line in lines)
    assert lengths[200] < lengths[5] + 50  # not 200 model names longer
