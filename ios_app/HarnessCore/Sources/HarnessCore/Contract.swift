// GENERATED from device_runners/contract.schema.json by quicktype 26.0.0
// (device_runners/ios/swift_contract.py). Do not edit: change the schema, then run
//   npm install && python -m device_runners.ios.swift_contract
// tests/test_ios_app.py fails while this file and the schema disagree.

// This file was generated from JSON Schema using quicktype, do not modify it directly.
// To parse the JSON, add this file to your project and do:
//
//   let runRequest = try? JSONDecoder().decode(RunRequest.self, from: jsonData)
//   let runResult = try? JSONDecoder().decode(RunResult.self, from: jsonData)
//   let deviceInfo = try? JSONDecoder().decode(DeviceInfo.self, from: jsonData)
//   let energyInfo = try? JSONDecoder().decode(EnergyInfo.self, from: jsonData)
//   let thermalInfo = try? JSONDecoder().decode(ThermalInfo.self, from: jsonData)
//   let checkOutput = try? JSONDecoder().decode(CheckOutput.self, from: jsonData)

import Foundation

// MARK: - RunRequest
struct RunRequest: Codable {
    var artifactPath: String
    var artifactSha256: String
    var backend: String?
    var checkInputsPath: String?
    var cpuAffinity: [Int]?
    var format: String
    var inputShape: [Int]
    var maxDurationS: Double?
    var maxIterations: Int
    var minDurationS: Double
    var minIterations: Int
    var model: String
    var precision: String?
    var profile: Bool?
    var runtime: String
    var schemaVersion: Double
    var seed: Int?
    var threads: Int
    var timeoutS: Double?
    var warmupIterations: Int
    var warmupUntilSettled: Bool?

    enum CodingKeys: String, CodingKey {
        case artifactPath = "artifact_path"
        case artifactSha256 = "artifact_sha256"
        case backend = "backend"
        case checkInputsPath = "check_inputs_path"
        case cpuAffinity = "cpu_affinity"
        case format = "format"
        case inputShape = "input_shape"
        case maxDurationS = "max_duration_s"
        case maxIterations = "max_iterations"
        case minDurationS = "min_duration_s"
        case minIterations = "min_iterations"
        case model = "model"
        case precision = "precision"
        case profile = "profile"
        case runtime = "runtime"
        case schemaVersion = "schema_version"
        case seed = "seed"
        case threads = "threads"
        case timeoutS = "timeout_s"
        case warmupIterations = "warmup_iterations"
        case warmupUntilSettled = "warmup_until_settled"
    }
}

// MARK: - RunResult
struct RunResult: Codable {
    var artifactSha256: String?
    var backend: String?
    var checkOutputs: [CheckOutput]?
    /// what else the runner recorded; the keys the harness reads are declared in ResultContext
    var context: [String: JSONAny]?
    var cpuAffinity: [Int]?
    var device: DeviceInfo
    var energy: EnergyInfo?
    var energySamples: [String: JSONAny]?
    var error: String?
    var firstInferenceMs: Double?
    var format: String
    var loadMs: Double?
    /// the last lines its program printed (a failed trial's traceback)
    var log: String?
    /// the program that measured: native runner, Python worker, Python bindings,
    /// benchmark_model, benchmark app, XCTest, ...
    var measuredBy: String?
    var model: String
    var peakRssInferenceKb: Int?
    var peakRssLoadKb: Int?
    var precision: String?
    var runtime: String?
    var runtimeVersions: [String: String]?
    var samplesMs: [Double]
    var schemaVersion: SchemaVersion
    var status: Status
    var thermal: ThermalInfo?
    var threads: Int?
    var warmupSamplesMs: [Double]?
    /// what the runner found doubtful (a delegate that took part of the graph), one sentence each
    var warnings: [String]?

    enum CodingKeys: String, CodingKey {
        case artifactSha256 = "artifact_sha256"
        case backend = "backend"
        case checkOutputs = "check_outputs"
        case context = "context"
        case cpuAffinity = "cpu_affinity"
        case device = "device"
        case energy = "energy"
        case energySamples = "energy_samples"
        case error = "error"
        case firstInferenceMs = "first_inference_ms"
        case format = "format"
        case loadMs = "load_ms"
        case log = "log"
        case measuredBy = "measured_by"
        case model = "model"
        case peakRssInferenceKb = "peak_rss_inference_kb"
        case peakRssLoadKb = "peak_rss_load_kb"
        case precision = "precision"
        case runtime = "runtime"
        case runtimeVersions = "runtime_versions"
        case samplesMs = "samples_ms"
        case schemaVersion = "schema_version"
        case status = "status"
        case thermal = "thermal"
        case threads = "threads"
        case warmupSamplesMs = "warmup_samples_ms"
        case warnings = "warnings"
    }
}

// MARK: - CheckOutput
struct CheckOutput: Codable {
    var shape: [Int]
    var values: [Double?]

    enum CodingKeys: String, CodingKey {
        case shape = "shape"
        case values = "values"
    }
}

// MARK: - DeviceInfo
struct DeviceInfo: Codable {
    var cpu: String?
    var cpuCount: Int?
    var deviceId: String
    var kind: String?
    var osVersion: String?
    var platform: String
    var productModel: String?
    var soc: String?

    enum CodingKeys: String, CodingKey {
        case cpu = "cpu"
        case cpuCount = "cpu_count"
        case deviceId = "device_id"
        case kind = "kind"
        case osVersion = "os_version"
        case platform = "platform"
        case productModel = "product_model"
        case soc = "soc"
    }
}

// MARK: - EnergyInfo
struct EnergyInfo: Codable {
    var avgPowerW: Double?
    var avgPowerWUncertainty: Double?
    var durationS: Double?
    var idlePowerW: Double?
    var joulesPerInference: Double?
    var joulesPerInferenceUncertainty: Double?
    var source: Source
    var warnings: [String]?

    enum CodingKeys: String, CodingKey {
        case avgPowerW = "avg_power_w"
        case avgPowerWUncertainty = "avg_power_w_uncertainty"
        case durationS = "duration_s"
        case idlePowerW = "idle_power_w"
        case joulesPerInference = "joules_per_inference"
        case joulesPerInferenceUncertainty = "joules_per_inference_uncertainty"
        case source = "source"
        case warnings = "warnings"
    }
}

enum Source: String, Codable {
    case battery = "battery"
    case ios = "ios"
    case none = "none"
    case odpm = "odpm"
    case rapl = "rapl"
}

enum SchemaVersion: Codable {
    case double(Double)
    case integer(Int)

    init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let x = try? container.decode(Int.self) {
            self = .integer(x)
            return
        }
        if let x = try? container.decode(Double.self) {
            self = .double(x)
            return
        }
        throw DecodingError.typeMismatch(SchemaVersion.self, DecodingError.Context(codingPath: decoder.codingPath, debugDescription: "Wrong type for SchemaVersion"))
    }

    func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .double(let x):
            try container.encode(x)
        case .integer(let x):
            try container.encode(x)
        }
    }
}

enum Status: String, Codable {
    case exportFailed = "export_failed"
    case ok = "ok"
    case runFailed = "run_failed"
    case unsupported = "unsupported"
}

// MARK: - ThermalInfo
struct ThermalInfo: Codable {
    var after: String?
    var before: String?
    var maxTempCAfter: Double?
    var maxTempCBefore: Double?
    var throttled: Bool?
    var waitedS: Double?

    enum CodingKeys: String, CodingKey {
        case after = "after"
        case before = "before"
        case maxTempCAfter = "max_temp_c_after"
        case maxTempCBefore = "max_temp_c_before"
        case throttled = "throttled"
        case waitedS = "waited_s"
    }
}

// MARK: - Encode/decode helpers

class JSONNull: Codable, Hashable {

    public static func == (lhs: JSONNull, rhs: JSONNull) -> Bool {
        return true
    }

    public var hashValue: Int {
        return 0
    }

    public func hash(into hasher: inout Hasher) {
        // No-op
    }

    public init() {}

    public required init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if !container.decodeNil() {
            throw DecodingError.typeMismatch(JSONNull.self, DecodingError.Context(codingPath: decoder.codingPath, debugDescription: "Wrong type for JSONNull"))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encodeNil()
    }
}

class JSONCodingKey: CodingKey {
    let key: String

    required init?(intValue: Int) {
        return nil
    }

    required init?(stringValue: String) {
        key = stringValue
    }

    var intValue: Int? {
        return nil
    }

    var stringValue: String {
        return key
    }
}

class JSONAny: Codable {

    let value: Any

    static func decodingError(forCodingPath codingPath: [CodingKey]) -> DecodingError {
        let context = DecodingError.Context(codingPath: codingPath, debugDescription: "Cannot decode JSONAny")
        return DecodingError.typeMismatch(JSONAny.self, context)
    }

    static func encodingError(forValue value: Any, codingPath: [CodingKey]) -> EncodingError {
        let context = EncodingError.Context(codingPath: codingPath, debugDescription: "Cannot encode JSONAny")
        return EncodingError.invalidValue(value, context)
    }

    static func decode(from container: SingleValueDecodingContainer) throws -> Any {
        if let value = try? container.decode(Bool.self) {
            return value
        }
        if let value = try? container.decode(Int64.self) {
            return value
        }
        if let value = try? container.decode(Double.self) {
            return value
        }
        if let value = try? container.decode(String.self) {
            return value
        }
        if container.decodeNil() {
            return JSONNull()
        }
        throw decodingError(forCodingPath: container.codingPath)
    }

    static func decode(from container: inout UnkeyedDecodingContainer) throws -> Any {
        if let value = try? container.decode(Bool.self) {
            return value
        }
        if let value = try? container.decode(Int64.self) {
            return value
        }
        if let value = try? container.decode(Double.self) {
            return value
        }
        if let value = try? container.decode(String.self) {
            return value
        }
        if let value = try? container.decodeNil() {
            if value {
                return JSONNull()
            }
        }
        if var container = try? container.nestedUnkeyedContainer() {
            return try decodeArray(from: &container)
        }
        if var container = try? container.nestedContainer(keyedBy: JSONCodingKey.self) {
            return try decodeDictionary(from: &container)
        }
        throw decodingError(forCodingPath: container.codingPath)
    }

    static func decode(from container: inout KeyedDecodingContainer<JSONCodingKey>, forKey key: JSONCodingKey) throws -> Any {
        if let value = try? container.decode(Bool.self, forKey: key) {
            return value
        }
        if let value = try? container.decode(Int64.self, forKey: key) {
            return value
        }
        if let value = try? container.decode(Double.self, forKey: key) {
            return value
        }
        if let value = try? container.decode(String.self, forKey: key) {
            return value
        }
        if let value = try? container.decodeNil(forKey: key) {
            if value {
                return JSONNull()
            }
        }
        if var container = try? container.nestedUnkeyedContainer(forKey: key) {
            return try decodeArray(from: &container)
        }
        if var container = try? container.nestedContainer(keyedBy: JSONCodingKey.self, forKey: key) {
            return try decodeDictionary(from: &container)
        }
        throw decodingError(forCodingPath: container.codingPath)
    }

    static func decodeArray(from container: inout UnkeyedDecodingContainer) throws -> [Any] {
        var arr: [Any] = []
        while !container.isAtEnd {
            let value = try decode(from: &container)
            arr.append(value)
        }
        return arr
    }

    static func decodeDictionary(from container: inout KeyedDecodingContainer<JSONCodingKey>) throws -> [String: Any] {
        var dict = [String: Any]()
        for key in container.allKeys {
            let value = try decode(from: &container, forKey: key)
            dict[key.stringValue] = value
        }
        return dict
    }

    static func encode(to container: inout UnkeyedEncodingContainer, array: [Any]) throws {
        for value in array {
            if let value = value as? Bool {
                try container.encode(value)
            } else if let value = value as? Int64 {
                try container.encode(value)
            } else if let value = value as? Double {
                try container.encode(value)
            } else if let value = value as? String {
                try container.encode(value)
            } else if value is JSONNull {
                try container.encodeNil()
            } else if let value = value as? [Any] {
                var container = container.nestedUnkeyedContainer()
                try encode(to: &container, array: value)
            } else if let value = value as? [String: Any] {
                var container = container.nestedContainer(keyedBy: JSONCodingKey.self)
                try encode(to: &container, dictionary: value)
            } else {
                throw encodingError(forValue: value, codingPath: container.codingPath)
            }
        }
    }

    static func encode(to container: inout KeyedEncodingContainer<JSONCodingKey>, dictionary: [String: Any]) throws {
        for (key, value) in dictionary {
            let key = JSONCodingKey(stringValue: key)!
            if let value = value as? Bool {
                try container.encode(value, forKey: key)
            } else if let value = value as? Int64 {
                try container.encode(value, forKey: key)
            } else if let value = value as? Double {
                try container.encode(value, forKey: key)
            } else if let value = value as? String {
                try container.encode(value, forKey: key)
            } else if value is JSONNull {
                try container.encodeNil(forKey: key)
            } else if let value = value as? [Any] {
                var container = container.nestedUnkeyedContainer(forKey: key)
                try encode(to: &container, array: value)
            } else if let value = value as? [String: Any] {
                var container = container.nestedContainer(keyedBy: JSONCodingKey.self, forKey: key)
                try encode(to: &container, dictionary: value)
            } else {
                throw encodingError(forValue: value, codingPath: container.codingPath)
            }
        }
    }

    static func encode(to container: inout SingleValueEncodingContainer, value: Any) throws {
        if let value = value as? Bool {
            try container.encode(value)
        } else if let value = value as? Int64 {
            try container.encode(value)
        } else if let value = value as? Double {
            try container.encode(value)
        } else if let value = value as? String {
            try container.encode(value)
        } else if value is JSONNull {
            try container.encodeNil()
        } else {
            throw encodingError(forValue: value, codingPath: container.codingPath)
        }
    }

    public required init(from decoder: Decoder) throws {
        if var arrayContainer = try? decoder.unkeyedContainer() {
            self.value = try JSONAny.decodeArray(from: &arrayContainer)
        } else if var container = try? decoder.container(keyedBy: JSONCodingKey.self) {
            self.value = try JSONAny.decodeDictionary(from: &container)
        } else {
            let container = try decoder.singleValueContainer()
            self.value = try JSONAny.decode(from: container)
        }
    }

    public func encode(to encoder: Encoder) throws {
        if let arr = self.value as? [Any] {
            var container = encoder.unkeyedContainer()
            try JSONAny.encode(to: &container, array: arr)
        } else if let dict = self.value as? [String: Any] {
            var container = encoder.container(keyedBy: JSONCodingKey.self)
            try JSONAny.encode(to: &container, dictionary: dict)
        } else {
            var container = encoder.singleValueContainer()
            try JSONAny.encode(to: &container, value: self.value)
        }
    }
}

// MARK: - Contract version

/// The RunRequest's `schema_version` const: what the app writes into results and expects.
let contractSchemaVersion = 3
