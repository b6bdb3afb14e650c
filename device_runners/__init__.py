"""Device runners: one package per kind of device, all speaking the runner contract.

    contract.py, contract.schema.json   RunRequest / RunResult, shared with the C++, Kotlin and
                                        Swift runners
    runner.py                           the Runner protocol, the DeviceKind descriptor each kind
                                        exports, and the one thermal gate
    errors.py                           DeviceError, the base of every error a user can act on
    timing.py                           the timing loop of the Python runners
    host/                               this machine (runtimes in fresh worker processes)
    android/                            phones over adb
    sensors/                            energy, power and temperature readings, one module a source
    native/                             the C++ ExecuTorch runner and its build

This package never imports `harness`; the harness imports the contract, the protocol and the
kinds' descriptors from here.
"""
