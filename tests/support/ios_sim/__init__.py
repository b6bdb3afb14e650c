"""Stand-ins for Xcode's `xcrun devicectl`, `xcodebuild`, `xcrun xcresulttool` and for the
`pymobiledevice3` command line, with simulated iPhones and a stand-in benchmark app, for the iOS
runner's end-to-end tests on a machine with no iPhone and no Mac.

    with IosSim(tmp_path) as sim:                   # bin/ first on PATH, state under tmp_path
        sim.add_phone("00008101-000A", product_type="iPhone13,2", name="Test iPhone 12")
        ...  # harness run --device iphone12 ... through either transport
        sim.commands()                              # every command the harness ran

The tools speak their real command lines and print the JSON shapes the real ones print: the
devicectl documents have the keys of the real outputs kept in tests/data/real/devicectl
(list devices, install app, process launch, info processes; tests/data/real/README.md). Each simulated
phone has an app container, a directory standing in for the app's data container, whose
`Documents/` the transports copy into and out of. "Launching" the app starts `app.py`, which
follows the same file protocol as the Swift app (device_runners/ios/protocol.py) and measures
with this machine's host runner, so the samples in a run's records come from a real runtime.
The battery monitor prints a current that rises while the app runs.
"""

from .state import IosSim, Phone

__all__ = ["IosSim", "Phone"]
