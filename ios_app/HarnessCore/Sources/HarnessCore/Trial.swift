// One trial: a RunRequest in, a RunResult out, in the order of the native runner's `measure`
// (device_runners/native/harness_runner.cpp) and the Android app's Trial.kt: cold load, first
// inference, warm-up, timed iterations, then the check inputs. A failure keeps what was measured
// before it; nothing here throws for a bad request or a failing runtime. Everything outside the
// process (files, clock, memory, thermal state) comes in through HarnessFiles and DeviceProbe.

import Foundation

/// What the harness records as the program that measured (RunResult.measured_by).
let measuredBy = "benchmark app"

/// Everything a trial measured, ok or not (the native runner's `Measurement`).
private struct Measurement {
    var status: Status = .ok
    var error = ""
    var loadMs: Double?
    var firstInferenceMs: Double?
    var warmupSamplesMs: [Double] = []
    var samplesMs: [Double] = []
    var peakLoadKb: Int?
    var peakInferenceKb: Int?
    var checkOutputs: [CheckOutput] = []
    var thermalBefore = "unknown"
    var thermalAfter = "unknown"
    var context: [String: Any] = [:]
    var versions: [String: String] = [:]
}

struct Trial {
    let files: HarnessFiles
    let runtimes: RuntimeTable
    let probe: DeviceProbe
    /// The app's version, for the context (the status answer's `app_version`).
    var appVersion = "unknown"

    /// Reads the request at `requestPath` (relative to the root), measures it, writes the result
    /// and then its `.done` marker, removes the answered request and returns the result. Throws
    /// only when the answer cannot be written; the harness then times out on the missing marker.
    @discardableResult
    func runAndAnswer(requestPath: String, device: DeviceInfo) throws -> RunResult {
        let requestURL = files.resolve(requestPath)
        let result = run(requestURL: requestURL, device: device)
        try HarnessFiles.answer(try Self.encode(result), at: files.resultURL(forRequest: requestURL))
        try? FileManager.default.removeItem(at: requestURL)  // answered; the harness keeps its own copy
        return result
    }

    /// The result as JSON; one that cannot be encoded (a value JSON cannot hold) becomes a
    /// run_failed result saying why.
    static func encode(_ result: RunResult) throws -> Data {
        do {
            return try JSONEncoder().encode(result)
        } catch {
            var failed = result
            failed.status = .runFailed
            failed.error = "the app's result cannot be written as JSON: \(error)"
            failed.context = [:]
            failed.checkOutputs = []
            failed.samplesMs = []
            failed.warmupSamplesMs = []
            return try JSONEncoder().encode(failed)
        }
    }

    /// Runs the request at `requestURL` and returns its result; never throws, a fault is a result
    /// with status run_failed or unsupported and its line.
    func run(requestURL: URL, device: DeviceInfo) -> RunResult {
        let request: RunRequest
        do {
            request = try JSONDecoder().decode(RunRequest.self, from: Data(contentsOf: requestURL))
        } catch {
            return Self.unreadable(requestURL, device: device, why: "\(error)")
        }
        var m = Measurement()
        m.context = ["runner": "HarnessBench", "app_version": appVersion,
                     "low_power_mode": probe.isLowPowerModeEnabled]
        m.context.merge(probe.contextFacts) { $1 }
        do {
            try measure(request, into: &m)
        } catch let error as BenchError {
            if case .unsupported = error { m.status = .unsupported } else { m.status = .runFailed }
            m.error = error.description
        } catch {
            m.status = .runFailed
            m.error = "\(error)"  // the runtime's own error (an NSError from Core ML, ExecuTorch, LiteRT)
        }
        return Self.result(request, m, device: device)
    }

    private func measure(_ request: RunRequest, into m: inout Measurement) throws {
        // A request of another contract version means the harness and this app were built
        // from different checkouts; answering with old fields would be stored as new ones.
        guard request.schemaVersion == Double(contractSchemaVersion) else {
            throw BenchError.failed("the request is contract version \(Self.number(request.schemaVersion)), "
                                    + "this app speaks \(contractSchemaVersion): rebuild it from this "
                                    + "checkout (ios_app/README.md)")
        }
        let runtime = try runtimes.make(request.runtime)
        let kind = type(of: runtime)
        m.versions = [request.runtime: kind.version]
        let artifact = files.resolve(request.artifactPath)
        guard FileManager.default.fileExists(atPath: artifact.path) else {
            throw BenchError.failed("artifact not found: \(request.artifactPath)")
        }
        if request.cpuAffinity != nil {
            m.context["cpu_affinity_note"] = "iOS has no API to pin threads to cores; not applied"
        }
        // The input is built before the memory baseline so it counts in neither phase's peak.
        let seed = request.seed ?? 0
        let input = Inputs.seededUniform(shape: request.inputShape, seed: seed)
        m.context["input"] = ["shape": request.inputShape, "dtype": "float32", "seed": seed,
                              "distribution": "uniform[-1,1) from mt19937_64"] as [String: Any]

        let prepareStart = probe.nowNs()
        m.context.merge(try runtime.prepare(artifact: artifact, request: request)) { $1 }
        m.context["prepare_ms"] = msBetween(prepareStart, probe.nowNs())

        // The lifetime peak cannot be reset: read it before the load too, so the load's figure is
        // its own and not, say, Core ML's compilation in `prepare`.
        let footprintBefore = probe.footprintKb()
        let peakBefore = probe.lifetimePeakKb()
        m.context["footprint_before_load_kb"] = footprintBefore
        m.context["lifetime_peak_before_load_kb"] = peakBefore
        let loadStart = probe.nowNs()
        try runtime.load(artifact: artifact, request: request)
        m.loadMs = msBetween(loadStart, probe.nowNs())
        m.context.merge(runtime.details) { $1 }
        let peakAfterLoad = probe.lifetimePeakKb()
        let load = PeakMethod.load(peakBefore: peakBefore, peakAfter: peakAfterLoad,
                                   footprintBefore: footprintBefore, footprintAfter: probe.footprintKb())
        m.peakLoadKb = load.kb
        m.context["peak_rss_load_method"] = load.method
        try runtime.setInput(input, shape: request.inputShape)

        let memory = MemorySampler(probe: probe)
        let loops = Loops(clock: probe, request: request, runOnce: { try runtime.run() },
                          afterEach: { memory.sample() })
        m.context["timed_call"] = kind.timedCall
        m.firstInferenceMs = try loops.once()
        let warmup = try loops.warmUp(into: &m.warmupSamplesMs)
        m.context["warmup"] = warmup

        // Wall-clock times around the timed loop: the harness cuts the battery readings to them.
        m.thermalBefore = probe.thermalState()
        m.context["timed_start_unix"] = probe.unixSeconds()
        let outcome = try loops.timed(into: &m.samplesMs)
        m.context["timed_end_unix"] = probe.unixSeconds()
        m.thermalAfter = probe.thermalState()
        m.context["thermal_readings"] = ["before": thermalReading(m.thermalBefore),
                                         "after": thermalReading(m.thermalAfter)]
        m.context["timed_stop_reason"] = outcome.stopReason
        m.context["timed_duration_s"] = outcome.durationS
        let peak = PeakMethod.inference(peakAfterLoad: peakAfterLoad, peakNow: probe.lifetimePeakKb(),
                                        sampled: memory.maxKb)
        m.peakInferenceKb = peak.kb
        m.context["peak_rss_inference_method"] = peak.method

        // After the timed loop, so neither the first inference nor the samples are disturbed.
        if let path = request.checkInputsPath, !path.isEmpty {
            do {
                for values in try Inputs.checkInputs(at: files.resolve(path), shape: request.inputShape) {
                    try runtime.setInput(values, shape: request.inputShape)
                    try runtime.run()
                    let output = try runtime.firstOutput()
                    m.checkOutputs.append(try Inputs.checkOutput(shape: output.shape, values: output.values))
                }
            } catch {
                m.checkOutputs = []
                m.context["check_error"] = "\(error)"
            }
        }
    }

    private static func result(_ request: RunRequest, _ m: Measurement, device: DeviceInfo) -> RunResult {
        let context: [String: JSONAny]
        do {
            context = try jsonContext(m.context)
        } catch {
            context = (try? jsonContext(["context_error": "\(error)"])) ?? [:]
        }
        return RunResult(
            artifactSha256: request.artifactSha256, backend: request.backend ?? "",
            checkOutputs: m.checkOutputs, context: context, cpuAffinity: request.cpuAffinity,
            device: device,
            energy: EnergyInfo(source: Source.none),  // the harness reads the battery around the app
            energySamples: [:], error: m.error, firstInferenceMs: m.firstInferenceMs,
            format: request.format, loadMs: m.loadMs, measuredBy: measuredBy, model: request.model,
            peakRssInferenceKb: m.peakInferenceKb, peakRssLoadKb: m.peakLoadKb,
            precision: request.precision ?? "fp32", runtime: request.runtime,
            runtimeVersions: m.versions, samplesMs: m.samplesMs,
            schemaVersion: .integer(contractSchemaVersion), status: m.status,
            thermal: ThermalInfo(after: m.thermalAfter, before: m.thermalBefore),
            threads: request.threads, warmupSamplesMs: m.warmupSamplesMs)
    }

    /// A request the app cannot decode still gets an answer, naming what it could read of it,
    /// so the harness reports the reason instead of waiting for a marker that never comes.
    private static func unreadable(_ url: URL, device: DeviceInfo, why: String) -> RunResult {
        let object = (try? Data(contentsOf: url)).flatMap { try? JSONSerialization.jsonObject(with: $0) }
        let fields = object as? [String: Any] ?? [:]
        return RunResult(
            device: device, error: "the benchmark app cannot read the request: \(why)",
            format: fields["format"] as? String ?? "", measuredBy: measuredBy,
            model: fields["model"] as? String ?? "",
            runtime: fields["runtime"] as? String, samplesMs: [],
            schemaVersion: .integer(contractSchemaVersion), status: .runFailed)
    }

    /// A number as the request wrote it: 2, not 2.0.
    private static func number(_ value: Double) -> String {
        value.rounded() == value && abs(value) < 1e15 ? String(Int(value)) : String(value)
    }
}
