// One trial: a RunRequest in, a RunResult out, in the order of the native runner's `measure`
// (device_runners/native/harness_runner.cpp) and the host worker: cold load, first inference,
// warm-up, timed iterations, then the check inputs. A failure keeps what was measured before it.

import Foundation

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

enum Trial {
    /// Runs the request at `requestURL` (Documents-relative paths inside) and returns its result;
    /// never throws, a fault is a result with status run_failed or unsupported and its line.
    static func run(requestURL: URL, device: DeviceInfo) -> RunResult {
        let request: RunRequest
        do {
            request = try JSONDecoder().decode(RunRequest.self, from: Data(contentsOf: requestURL))
        } catch {
            return unreadable(requestURL, device: device, why: "\(error)")
        }
        var m = Measurement()
        m.context = ["runner": "HarnessBench", "app_version": DeviceFacts.appVersion(),
                     "clock": "CLOCK_UPTIME_RAW", "memory": "phys_footprint (TASK_VM_INFO)",
                     "low_power_mode": ProcessInfo.processInfo.isLowPowerModeEnabled]
        do {
            try measure(request, into: &m)
        } catch let error as BenchError {
            if case .unsupported = error { m.status = .unsupported } else { m.status = .runFailed }
            m.error = error.description
        } catch {
            m.status = .runFailed
            m.error = "\(error)"  // the runtime's own error (an NSError from Core ML, ExecuTorch, LiteRT)
        }
        return result(request, m, device: device)
    }

    private static func measure(_ request: RunRequest, into m: inout Measurement) throws {
        // A request of another contract version means the harness and this app were built
        // from different checkouts; answering with old fields would be stored as new ones.
        guard Int(request.schemaVersion) == contractSchemaVersion else {
            throw BenchError.failed("the request is contract version \(Int(request.schemaVersion)), this "
                                    + "app speaks \(contractSchemaVersion): rebuild it from this checkout "
                                    + "(ios_app/README.md)")
        }
        let runtime = try Runtimes.make(request.runtime)
        m.versions = [request.runtime: type(of: runtime).version]
        let artifact = HarnessFiles.inDocuments(request.artifactPath)
        guard FileManager.default.fileExists(atPath: artifact.path) else {
            throw BenchError.failed("artifact not found: \(request.artifactPath)")
        }
        if request.cpuAffinity != nil {
            m.context["cpu_affinity_note"] = "iOS has no API to pin threads to cores; not applied"
        }
        // The input is built before the memory baseline so it counts in neither phase's peak.
        let seed = request.seed ?? 0
        let input = Inputs.seededUniform(shape: request.inputShape, seed: seed)
        let inputInfo: [String: Any] = ["shape": request.inputShape, "dtype": "float32", "seed": seed,
                                        "distribution": "uniform[-1,1) from mt19937_64"]
        m.context["input"] = inputInfo

        let prepareStart = nowNs()
        m.context.merge(try runtime.prepare(artifact: artifact, request: request)) { $1 }
        m.context["prepare_ms"] = msBetween(prepareStart, nowNs())
        m.context["footprint_before_load_kb"] = Memory.footprintKb()
        let loadStart = nowNs()
        try runtime.load(artifact: artifact, request: request)
        m.loadMs = msBetween(loadStart, nowNs())
        m.context.merge(runtime.details) { $1 }
        let peakAfterLoad = Memory.lifetimePeakKb()
        m.peakLoadKb = peakAfterLoad ?? Memory.footprintKb()
        try runtime.setInput(input, shape: request.inputShape)

        let memory = MemorySampler()
        let loops = Loops(runtime: runtime, request: request, memory: memory)
        let firstStart = nowNs()
        try runtime.run()
        m.firstInferenceMs = msBetween(firstStart, nowNs())
        let warmup = try loops.warmUp(into: &m.warmupSamplesMs)
        m.context["warmup"] = warmup

        // Wall-clock times around the timed loop: the harness cuts the battery readings to them.
        m.thermalBefore = Thermal.state()
        m.context["timed_start_unix"] = Date().timeIntervalSince1970
        let (stopReason, durationS) = try loops.timed(into: &m.samplesMs)
        m.context["timed_end_unix"] = Date().timeIntervalSince1970
        m.thermalAfter = Thermal.state()
        m.context["thermal_readings"] = ["before": Thermal.reading(m.thermalBefore),
                                         "after": Thermal.reading(m.thermalAfter)]
        m.context["timed_stop_reason"] = stopReason
        m.context["timed_duration_s"] = durationS
        let peak = inferencePeak(afterLoad: peakAfterLoad, sampled: memory)
        m.peakInferenceKb = peak.kb
        m.context["peak_rss_inference_method"] = peak.method

        // After the timed loop, so neither the first inference nor the samples are disturbed.
        if let path = request.checkInputsPath, !path.isEmpty {
            do {
                let checks = try Inputs.checkInputs(at: HarnessFiles.inDocuments(path), shape: request.inputShape)
                for values in checks {
                    try runtime.setInput(values, shape: request.inputShape)
                    try runtime.run()
                    let output = try runtime.firstOutput()
                    m.checkOutputs.append(Inputs.checkOutput(shape: output.shape, values: output.values))
                }
            } catch {
                m.context["check_error"] = "\(error)"
            }
        }
    }

    /// The inference phase's peak. iOS cannot reset the lifetime peak: when it rose after the load,
    /// the inference phase set it and it is exact; otherwise the highest footprint read between
    /// iterations stands in, a lower bound, and the context says which it is.
    private static func inferencePeak(afterLoad: Int?, sampled: MemorySampler) -> (kb: Int?, method: String) {
        if let afterLoad, let now = Memory.lifetimePeakKb(), now > afterLoad {
            return (now, "lifetime peak (set during inference)")
        }
        return (sampled.maxKb, "highest footprint between iterations (the load set the lifetime peak)")
    }

    private static func result(_ request: RunRequest, _ m: Measurement, device: DeviceInfo) -> RunResult {
        var context: [String: JSONAny]
        do {
            context = try jsonContext(m.context)
        } catch {
            context = (try? jsonContext(["context_error": "\(error)"])) ?? [:]
        }
        return RunResult(
            artifactSha256: request.artifactSha256, backend: request.backend ?? "",
            checkOutputs: m.checkOutputs, context: context, device: device,
            energy: EnergyInfo(source: .none),  // the harness reads the battery around the app
            energySamples: [:], error: m.error, firstInferenceMs: m.firstInferenceMs,
            format: request.format, loadMs: m.loadMs, model: request.model,
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
            format: fields["format"] as? String ?? "", model: fields["model"] as? String ?? "",
            runtime: fields["runtime"] as? String, samplesMs: [],
            schemaVersion: .integer(contractSchemaVersion), status: .runFailed)
    }
}
