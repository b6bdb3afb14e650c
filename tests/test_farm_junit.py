"""The farm's JUnit XML against the two schemas CI systems read JUnit with, by xmllint: the strict
Ant JUnit schema and Jenkins' (tests/data/real/junit, origins in tests/data/real/README.md); and
the verdict of a cell that fails on its first night.
"""

from __future__ import annotations

import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest

from tests.support.paths import TESTS
from harness.farm.config import parse_farm
from harness.farm.regression import NEW, NEW_FAILED, UNSUPPORTED, _verdict
from harness.farm.reports import DeviceOutcome, FarmOutcome, digest, junit_xml, summary
from harness.report.compare import BROKEN, FASTER, NO_CHANGE, SLOWER, CellComparison
from harness.store import BenchmarkRecord

SCHEMAS = TESTS / "data" / "real" / "junit"
XMLLINT = shutil.which("xmllint")
pytestmark = pytest.mark.needs(None if XMLLINT else "xmllint is not installed (Debian: libxml2-utils)")


def cell(model, fmt, verdict, **figures):
    return CellComparison(device_id="pixel7", model=model, format=fmt, verdict=verdict, **figures)


def night() -> FarmOutcome:
    """One device with a cell of every verdict, another quarantined with nothing measured."""
    pixel = DeviceOutcome("pixel7", "nightly-20261201-pixel7", seconds=1234.5678,
                          started_at=1764547200.0, quarantined="device quarantined for the night: 2 cells")
    pixel.verdicts = [
        cell("repvit_m0_9", "executorch", SLOWER, a_median=1.0, b_median=1.2, ratio=1.2,
             ratio_ci=(1.15, 1.25), p_value=1e-9, notes=("threads 2 -> 1",)),
        cell("repvit_m0_9", "tflite", FASTER, a_median=2.0, b_median=1.5, ratio=0.75),
        cell("emo_1m", "executorch", NO_CHANGE, a_median=3.0, b_median=3.01, ratio=1.003),
        cell("emo_1m", "tflite", BROKEN, a_median=3.0, notes=("run_failed: <timeout> & more",)),
        cell("edgenext_xx_small", "executorch", NEW_FAILED, notes=("export_failed: op \"aten::x\"",)),
        cell("edgenext_xx_small", "tflite", NEW, b_median=4.2),
        cell("edgenext_xx_small", "coreml", UNSUPPORTED, notes=("coreml runs on Apple devices",)),
    ]
    pixel.statuses = {("emo_1m", "tflite"): ("run_failed", "timed out after 600 s")}
    pixel.cell_seconds = {("repvit_m0_9", "executorch"): 61.25}
    host = DeviceOutcome("host", None, unavailable="No device matches 'host2'")
    return FarmOutcome("nightly", "nightly-20261201", [pixel, host])


@pytest.mark.parametrize("schema", ["ant-junit.xsd", "jenkins-junit-10.xsd"])
def test_the_junit_xml_is_valid_under_the_ant_and_the_jenkins_schemas(tmp_path, schema):
    path = tmp_path / "junit.xml"
    path.write_text(junit_xml(night()))
    out = subprocess.run([XMLLINT, "--noout", "--schema", str(SCHEMAS / schema), str(path)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "validates" in out.stderr


def test_the_junit_xml_says_what_each_cell_did():
    root = ET.fromstring(junit_xml(night()))
    assert root.tag == "testsuites" and root.attrib == {}  # the Ant schema allows none here
    pixel, host = root.findall("testsuite")
    assert (pixel.get("package"), pixel.get("id"), host.get("id")) == ("farm.nightly", "0", "1")
    assert pixel.get("timestamp") == "2025-12-01T00:00:00" and pixel.get("hostname")
    assert (pixel.get("tests"), pixel.get("failures"), pixel.get("skipped")) == ("7", "3", "1")
    cases = {(c.get("classname"), c.get("name")): c for c in pixel.findall("testcase")}
    assert cases[("farm.pixel7.repvit_m0_9", "executorch")].get("time") == "61.250"
    failed = {k[0].split(".")[-1] + "/" + k[1]: c.find("failure").get("type")
              for k, c in cases.items() if c.find("failure") is not None}
    assert failed == {"repvit_m0_9/executorch": "slower", "emo_1m/tflite": "broken",
                      "edgenext_xx_small/executorch": "new and failed"}
    assert "timed out after 600 s" in cases[("farm.pixel7.emo_1m", "tflite")].find("failure").text
    assert cases[("farm.pixel7.edgenext_xx_small", "coreml")].find("skipped") is not None
    assert all(c.find("system-out") is None for c in cases.values())  # the suite's, not a case's
    assert "edgenext_xx_small / executorch: new and failed" in pixel.find("system-out").text
    props = {p.get("name"): p.get("value") for p in pixel.find("properties")}
    assert props["quarantined"].startswith("device quarantined") and props["farm_run"] == "nightly-20261201"


def test_a_cell_failing_on_its_first_night_is_new_and_failed_not_broken():
    config = parse_farm({"name": "nightly", "devices": [{"name": "host"}], "models": "tiny"})
    tonight = BenchmarkRecord(run_id="r", model="m", format="tflite", device_id="host",
                              status="export_failed", reason="op not supported", artifact={},
                              model_info={})
    verdict = _verdict(None, None, tonight, [], config)  # no earlier measured record: a first night
    assert verdict.verdict == NEW_FAILED and verdict.notes == ("export_failed: op not supported",)
    outcome = FarmOutcome("nightly", "n1", [DeviceOutcome("host", "r", verdicts=[verdict])])
    assert outcome.failed and summary(outcome, 3)["counts"]["new and failed"] == 1
    assert "**new and failed**" in digest(outcome)
