// swift-tools-version:5.9
// HarnessCore: the platform-free half of the benchmark app (ios_app/README.md, "The Swift core"):
// the contract types, the inputs, the warm-up and timing loops, the trial and the file protocol,
// on Foundation alone, so `swift test` runs them on any Mac or Linux machine with a Swift
// toolchain. The app (project.yml) compiles the same sources into its own module.

import PackageDescription

let package = Package(
    name: "HarnessCore",
    platforms: [.iOS(.v17), .macOS(.v13)],
    products: [
        .library(name: "HarnessCore", targets: ["HarnessCore"]),
    ],
    targets: [
        .target(name: "HarnessCore", path: "Sources/HarnessCore"),
        // Fixtures/ holds device_runners/timing.py's answers (tests/support/loop_cases.py writes them);
        // the tests read it, and the contract's schema, by path from the checkout.
        .testTarget(name: "HarnessCoreTests", dependencies: ["HarnessCore"],
                    path: "Tests/HarnessCoreTests", exclude: ["Fixtures"]),
    ]
)
