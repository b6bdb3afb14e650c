"""What the tests share: paths, one way to wait, and the stand-ins for what cannot exist here.

    paths.py          ROOT, TESTS, TINY (the tiny model as `--models` takes it)
    wait.py           wait_until: poll a condition until it holds or a deadline passes
    ci.py             skip a test that lacks a tool, except under CI=true, where it fails
    models.py         randomise_batchnorms, for tests of folded BatchNorms
    adb_sim/          a loopback adb server with simulated phones
    ios_sim/          stand-ins for Xcode's tools and pymobiledevice3, with a simulated iPhone
    stf_sim.py        a DeviceFarmer STF server on 127.0.0.1
    pg_server.py      a private PostgreSQL server; store_backends.py the `db` fixture on both
    redis_server.py   a private Redis server
    loopback_kind.py  a test-only device kind: a new kind is one package and one entry
    lab_kind.py       another, for the farm

Imported as a package (`from tests.support.adb_sim import ...`), never through sys.path.
"""
