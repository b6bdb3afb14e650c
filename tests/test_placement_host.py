"""Where every operator ran, on this host, end to end: one nightly farm run of a model with an
operator XNNPACK does not take in ExecuTorch 1.5.1 (tests/tiny_models.py:fallback_convnet's
cumsum, which the portable kernels run), profiled because a rule of its farm.yaml is on time.
It feeds every assertion here: the stored map shows cumsum on the CPU, the contract requiring
full delegation fails that cell in the JUnit XML and the digest, `show --placement` and the
site's model page show it, and the Model Explorer overlays load in Model Explorer's own package.

Slow: an export and a profiled run (about 40 s). The default tier keeps the component with
tests/test_placement.py (maps, contracts, JUnit, node times from recorded shapes).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest
import yaml
from click.testing import CliRunner

from harness.cli import main
from harness.placement.model_explorer import check_node_data, graph_keys
from harness.store import Store
from tests.support.paths import TESTS

MODEL = f"{TESTS / 'tiny_models.py'}:fallback_convnet"
FAST = {"trials": 2, "warmup": 2, "iterations": 20, "min_time": 0.2}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def night(tmp_path_factory):
    """One farm night: executorch and tflite of fallback_convnet, with contracts."""
    root = tmp_path_factory.mktemp("placement-night")
    data = {"name": "nightly", "devices": [{"name": "host"}], "models": MODEL,
            "formats": ["executorch", "tflite"], "settings": FAST,
            "results": {"db": str(root / "h.db"), "out": str(root / "out")},
            "expect": [{"format": "executorch", "delegated_ops": 1.0, "cpu_fallback_ops": 0,
                        "max_op_share": {"aten.cumsum": 0.02}},
                       {"format": "tflite", "delegated_ops": ">= 0.5"}]}
    (root / "farm.yaml").write_text(yaml.safe_dump(data))
    out = CliRunner().invoke(main, ["farm", "run", str(root / "farm.yaml"), "--run", "nightly-1",
                                    "--cache-dir", str(root / "cache")], catch_exceptions=False)
    with Store(root / "h.db", readonly=True) as store:
        [run] = store.runs()
        records = {r.format: r for r in store.records(run.id)}
    return {"root": root, "out": out, "records": records, "db": str(root / "h.db")}


def test_the_operator_xnnpack_does_not_take_is_on_the_cpu_in_the_map(night):
    record = night["records"]["executorch"]
    assert record.status == "ok", record.reason
    placement = record.result.context["placement"]
    assert placement["sources"] == ["etdump", "export"]
    [cumsum] = [r for r in placement["rows"] if r["kind"] == "cumsum"]
    assert (cumsum["operator"], cumsum["unit"], cumsum["delegated"]) == ("cumsum.out", "cpu", False)
    assert 0 < cumsum["share"] < 1 and cumsum["ms"] > 0
    assert all(r["delegated"] and r["unit"] == "xnnpack" for r in placement["rows"] if r is not cumsum)
    assert placement["ops"] == {"delegated": 7, "cpu": 1, "total": 8, "source": "export"}
    assert placement["cpu_fallback"] == {"cumsum": 1}
    tflite = night["records"]["tflite"].result.context["placement"]
    assert tflite["cpu_fallback"] == {"cumsum": 1} and tflite["total_ms"] is None
    assert any("benchmark_model on a phone" in u for u in tflite["unknown"])


def test_a_rule_requiring_full_delegation_fails_that_cell_in_junit_and_the_digest(night):
    assert night["out"].exit_code == 3, night["out"].output
    night_dir = night["root"] / "out" / "nightly-1"
    cases = {c.get("name"): c for c in ET.parse(night_dir / "junit.xml").getroot().iter("testcase")}
    failure = cases["executorch"].find("failure")
    assert failure is not None and failure.get("type") == "contract broken"
    message = failure.get("message")
    assert "delegated_ops >= 1 broken: 7 of 8 operators delegated" in message
    assert "cpu_fallback_ops <= 0 broken: 1 operator on the CPU outside any delegate" in message
    assert "max_op_share aten.cumsum <= 0.02 broken" in message and "cumsum.out x1" in message
    assert cases["tflite"].find("failure") is None  # 5 of 6 is at least 0.5
    assert "**contract broken**" in (night_dir / "digest.md").read_text()
    summary = json.loads((night_dir / "summary.json").read_text())
    assert summary["counts"]["contract broken"] == 1


def test_show_placement_and_the_model_page_show_the_cpu_fallback(night, tmp_path):
    shown = CliRunner().invoke(main, ["show", "latest", "--placement", "--db", night["db"], "--wide"])
    assert shown.exit_code == 0, shown.output
    row = next(line for line in shown.output.splitlines() if "cumsum.out" in line)
    assert "CPU, outside any delegate" in row and " NO " in row
    assert "7 of 8 operators delegated (88%, export); on the CPU outside any delegate: cumsum x1" in shown.output
    site = CliRunner().invoke(main, ["site", "--db", night["db"], "--out", str(tmp_path / "site")])
    assert site.exit_code == 0, site.output
    [page] = (tmp_path / "site" / "models").glob("*fallback_convnet*.html")
    html = page.read_text()
    assert "Where each operator ran" in html
    assert '<tr class="fallback"><td>cumsum.out</td><td>cumsum</td><td>CPU, outside any delegate</td>' in html


def test_the_overlays_load_in_model_explorer_s_package(night, tmp_path):
    out = tmp_path / "overlays"
    shown = CliRunner().invoke(main, ["show", "latest", "--model-explorer", str(out), "--db", night["db"]])
    assert shown.exit_code == 0, shown.output
    graph = out / "tiny_models_fallback_convnet.executorch.pt2"
    latency = out / "tiny_models_fallback_convnet.executorch.latency.json"
    placement = out / "tiny_models_fallback_convnet.executorch.placement.json"
    keys = graph_keys(str(graph))  # Model Explorer's own PyTorch adapter reads the graph
    for path in (latency, placement, out / "tiny_models_fallback_convnet.tflite.placement.json"):
        assert check_node_data(path) is None, path  # its node_data_builder takes the file
        data = json.loads(path.read_text())
        [(graph_id, node_data)] = data.items()
        assert node_data["results"]
        if path.name.startswith("tiny_models_fallback_convnet.executorch"):
            assert {f"{graph_id}:{k}" for k in node_data["results"]} <= keys
    marks = json.loads(placement.read_text())["graph"]["results"]
    assert marks["cumsum"]["value"] == 0 and marks["conv2d"]["value"] == 1
    assert json.loads(latency.read_text())["graph"]["results"]["cumsum"]["value"] > 0
    tflite_keys = graph_keys(str(out / "tiny_models_fallback_convnet.tflite.tflite"))
    tflite_marks = json.loads((out / "tiny_models_fallback_convnet.tflite.placement.json").read_text())
    assert {f"main:{k}" for k in tflite_marks["main"]["results"]} <= tflite_keys
    listing = (out / "overlays.txt").read_text()
    assert "model-explorer tiny_models_fallback_convnet.executorch.pt2 --node_data_paths=" in listing
    assert "on the CPU: cumsum (aten.cumsum.default)" in listing
    # A file Model Explorer's classes refuse is named, not written silently.
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"graph": {"results": {"cumsum": {"value": "fast"}}}}))
    assert "refuse broken.json" in check_node_data(broken)


def test_a_per_node_diff_of_two_runs(night, tmp_path):
    root = night["root"]
    again = CliRunner().invoke(main, ["farm", "run", str(root / "farm.yaml"), "--run", "nightly-2",
                                      "--cache-dir", str(root / "cache")], catch_exceptions=False)
    assert again.exit_code == 3, again.output
    with Store(night["db"], readonly=True) as store:
        first, second = sorted(store.runs(), key=lambda r: r.started_at)
    out = tmp_path / "diff"
    shown = CliRunner().invoke(main, ["show", second.id, "--model-explorer", str(out),
                                      "--against", first.id, "--db", night["db"]])
    assert shown.exit_code == 0, shown.output
    diff = out / "tiny_models_fallback_convnet.executorch.diff.json"
    assert check_node_data(diff) is None
    results = json.loads(diff.read_text())["graph"]["results"]
    assert {"cumsum", "conv2d", "conv2d_1"} <= set(results)
    assert f"diff against run {first.id}" in (out / "overlays.txt").read_text()
    alone = CliRunner().invoke(main, ["show", "latest", "--against", first.id, "--db", night["db"]])
    assert alone.exit_code == 2 and "--against goes with --model-explorer" in alone.output
