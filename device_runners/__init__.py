"""Device runners: one package per kind of device, all speaking the runner contract.

    contract.py, contract.schema.json   RunRequest / RunResult (and the result's declared
                                        context), shared with the C++, Kotlin and Swift runners
    runner.py                           the Runner protocol, the DeviceKind descriptor each kind
                                        exports (options, setup, build targets, catalog names),
                                        and the one thermal gate
    errors.py                           DeviceError, the base of every error a user can act on
    timing.py                           the timing loop of the Python runners
    process.py                          child processes that die with their parent
    phones.py                           what the phone kinds share: options, catalog clusters
    app_files.py                        the file layout both benchmark apps read and write
    operator_profile.py                 per-operator profiles, as every runner returns them
    install_hint.py                     the line that installs a missing extra, from the clone
    host/                               this machine (runtimes in fresh worker processes, the
                                        native runner for ExecuTorch)
    android/                            phones over adb: discovery, runners (native, benchmark_model,
                                        app), staging, catalog, setup, providers (STF, AWS)
    ios/                                iPhones over devicectl or pymobiledevice3: discovery,
                                        catalog, the app's protocol, XCTest, battery energy
    sensors/                            energy, power and temperature readings, one module a source
    native/                             the C++ ExecuTorch runner and its build

This package never imports `harness`; the harness imports the contract, the protocol and the
kinds' descriptors from here.
"""
