"""Trust boundaries, secrets (issue 26, points 1-3; docs/security.md): no password given in a
URL leaves the harness, whatever prints, stores or exports it, and no token goes to a host it was
not meant for.

- A PostgreSQL password in `--db` is not stored with the run, nor shown by `show` (text and
  JSON), `runs --json`, the exports, the site or the run's log; a run an older harness stored
  with one in its command line shows none either.
- A Redis password in the broker URL is not printed by `farm submit` or `farm status`, and a
  wrong one is one line (before any export), not a kombu traceback.
- The STF bearer token is not sent along a redirect to another origin, and a serial is one
  escaped path segment of the URL.
"""

from __future__ import annotations

import os

import pytest
import yaml
from click.testing import CliRunner

from device_runners.android.providers.stf import StfError
from harness.cli import main
from harness.devices import open_provided_runner
from harness.store import BenchmarkRecord, Store
from tests.support.cli import harness_cli, one_line
from tests.support.http_recorder import Recorder
from tests.support.paths import TINY
from tests.support.pg_server import PW_PASSWORD, PW_USER
from tests.support.redis_server import RedisServer
from tests.support.stf_sim import StfDevice, StfSim
from tests.support.store_backends import sql

FAST = ["--warmup", "1", "--iterations", "5", "--min-time", "0.05", "--trials", "1"]
SECRET = "s3cret-Pa55"


def _everything_shown(db, tmp_path) -> str:
    """What every command that shows a stored run prints or writes, as one text."""
    texts = []
    site = tmp_path / "site"
    for args in (["show", "latest"], ["show", "latest", "--json"], ["runs"], ["runs", "--json"],
                 ["results", "export", "--format", "jsonl"], ["results", "export", "--format", "csv"],
                 ["results", "export", "--format", "hud-v3"], ["site", "--out", str(site)],
                 ["report", "--out", str(tmp_path / "report.md")]):
        out = CliRunner().invoke(main, [*args, "--db", str(db)])
        assert out.exit_code == 0, (args, out.output)
        texts.append(out.output)
    texts += [p.read_text() for p in [*site.rglob("*"), tmp_path / "report.md"] if p.is_file()]
    return "\n".join(texts)


def test_a_password_in_a_stored_command_line_is_shown_nowhere(tmp_path):
    """The store redacts what it stores and what it reads back: a run stored by an older
    harness, its command line holding the password, shows none in any output either."""
    db = tmp_path / "h.db"
    argv = f"harness run --db postgresql://farm:{SECRET}@db.lab:5432/results --models m"
    with Store(db) as store:
        fresh = store.begin_run({"device_id": "host"}, {"note": f"redis://:{SECRET}@broker:6379/0"},
                                argv, None, "0")
        store.add_record(BenchmarkRecord(run_id=fresh, model="m", format="eager", device_id="host",
                                         status="run_failed", reason="r", artifact={}, model_info={}))
        store.finish_run(fresh)
    assert SECRET not in repr(sql(db, "SELECT argv, config_json FROM runs"))  # never stored
    sql(db, "UPDATE runs SET argv=?", (argv,))  # as an older harness stored it
    shown = _everything_shown(db, tmp_path)
    assert SECRET not in shown
    assert "postgresql://farm@db.lab:5432/results" in shown  # the rest of the URL still says where


@pytest.mark.slow  # the redaction stays in the default tier through the test above
def test_harness_run_on_postgresql_shows_its_password_nowhere(pg_server, pg_url, tmp_path, shared_cache):
    name = pg_url.rsplit("/", 1)[1]
    sql(pg_url, f"GRANT ALL ON SCHEMA public TO {PW_USER}")
    url = pg_server.url(name, PW_USER, PW_PASSWORD)
    env = {"HARNESS_CACHE": str(shared_cache)}
    run = harness_cli("run", "--db", url, "--models", TINY, "--formats", "eager", *FAST,
                      "--leaderboard", tmp_path / "lb.md", env=env, cwd=tmp_path, check=0)
    assert PW_PASSWORD not in run.stdout + run.stderr
    assert PW_PASSWORD not in repr(sql(pg_url, "SELECT argv, config_json, device_json FROM runs"))
    shown = _everything_shown(url, tmp_path)
    assert PW_PASSWORD not in shown and f"postgresql://{PW_USER}@127.0.0.1" in shown
    logs = [p.read_text() for p in (tmp_path / "results" / "logs").glob("*.log")]
    assert logs and not any(PW_PASSWORD in text for text in logs)
    assert PW_PASSWORD not in (tmp_path / "lb.md").read_text()


# ----------------------------------------------------------------------------------------------
# The broker's password


@pytest.fixture
def guarded_broker(tmp_path):
    with RedisServer(tmp_path / "redis", password=SECRET) as server:
        yield server


def _farm_yaml(tmp_path, shared_cache, **extra) -> str:
    data = {"name": "sec", "devices": [{"name": "host"}], "models": TINY, "formats": ["eager"],
            "settings": {"trials": 1, "warmup": 1, "iterations": 5, "min_time": 0.05, "jobs": 1},
            "results": {"db": str(tmp_path / "h.db"), "cache": str(shared_cache),
                        "out": str(tmp_path / "out")}, **extra}
    path = tmp_path / "farm.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_a_wrong_broker_password_is_one_line_before_any_work(tmp_path, guarded_broker):
    farm = _farm_yaml(tmp_path, tmp_path / "cache")
    wrong = guarded_broker.url.replace(SECRET, "not-the-" + SECRET)
    submit = harness_cli("farm", "submit", farm, "--broker", wrong, cwd=tmp_path, check=1)
    line = one_line(submit.stderr)
    assert "refused the password" in line and "--broker" in line and SECRET not in line
    assert not (tmp_path / "cache").exists()  # nothing was exported first
    Store(tmp_path / "h.db").close()  # the farm's database, to read beside the broker
    for url in (wrong, guarded_broker.url.replace(f":{SECRET}@", "")):  # a wrong one, none
        status = CliRunner().invoke(main, ["farm", "status", farm, "--run", "sec-1", "--broker", url])
        assert status.exit_code == 1 and SECRET not in status.output
        assert "refused the password" in one_line(status.output)


@pytest.mark.slow  # the broker's password stays in the default tier through the test above
def test_farm_submit_and_status_print_the_broker_without_its_password(tmp_path, guarded_broker, shared_cache):
    farm = _farm_yaml(tmp_path, shared_cache)
    submit = harness_cli("farm", "submit", farm, "--run", "sec-2", "--broker", guarded_broker.url,
                         cwd=tmp_path, check=0)
    assert f"on redis://127.0.0.1:{guarded_broker.port}/0" in submit.stderr
    assert SECRET not in submit.stdout + submit.stderr
    Store(tmp_path / "h.db").close()
    status = harness_cli("farm", "status", farm, "--run", "sec-2", "--broker", guarded_broker.url,
                         cwd=tmp_path, check=0)
    assert "host" in status.stdout and SECRET not in status.stdout + status.stderr


# ----------------------------------------------------------------------------------------------
# STF's token


def test_the_stf_token_never_follows_a_redirect_to_another_origin(monkeypatch):
    token = "stf-" + SECRET
    monkeypatch.setenv("STF_TOKEN", token)
    with Recorder() as elsewhere, \
            Recorder(lambda r: (302, {"Location": elsewhere.url(r.path)}, b"")) as stf, \
            pytest.raises(StfError) as refused:
        open_provided_runner("stf", {"url": stf.origin, "serial": "PIXEL"})
    line = str(refused.value)
    assert "\n" not in line and "another origin" in line and token not in line
    assert [r.headers.get("Authorization") for r in stf.requests] == [f"Bearer {token}"]
    assert elsewhere.requests == []  # not followed: the token never reached the other host


def test_a_serial_is_one_escaped_path_segment(monkeypatch):
    with StfSim([StfDevice("PIXEL", "127.0.0.1:9")]) as stf:
        monkeypatch.setenv("STF_TOKEN", stf.token)
        with pytest.raises(StfError, match=r"STF has no device \.\./\.\./admin\?x=1"):
            open_provided_runner("stf", {"url": stf.url, "serial": "../../admin?x=1"})
    assert stf.calls == [("GET", "/api/v1/devices/..%2F..%2Fadmin%3Fx%3D1")]


def test_the_environment_s_tokens_stay_out_of_a_failed_stf_line(monkeypatch):
    """An STF that answers 401 is named by its URL; the token is not repeated."""
    monkeypatch.setenv("STF_TOKEN", "tok-" + SECRET)
    with StfSim([StfDevice("PIXEL", "127.0.0.1:9")], token="another") as stf, \
            pytest.raises(StfError) as refused:
        open_provided_runner("stf", {"url": stf.url, "serial": "PIXEL"})
    assert "HTTP 401" in str(refused.value) and SECRET not in str(refused.value)
    assert os.environ["STF_TOKEN"].endswith(SECRET)
