// The inputs of a trial: the seeded input every timed iteration runs on, and the check inputs
// whose outputs go back to the harness for its numerics comparison.

import Foundation

/// mt19937_64, the generator device_runners/native/harness_runner.cpp seeds its input with (and
/// the Android app's Inputs.kt). Its output is fixed by the C++ standard (the 10000th draw from
/// the default seed 5489 is 9981545732273789042), so the app feeds the same input as the native
/// runner for the request's `seed` (0 unless the harness says otherwise). The check inputs are
/// another matter: the harness draws them with numpy (seed 1234) and pushes them as a file.
struct MersenneTwister64 {
    private static let n = 312, m = 156
    private static let upperMask: UInt64 = 0xFFFF_FFFF_8000_0000
    private static let lowerMask: UInt64 = 0x0000_0000_7FFF_FFFF
    private var state = [UInt64](repeating: 0, count: MersenneTwister64.n)
    private var index = MersenneTwister64.n

    init(seed: UInt64) {
        state[0] = seed
        for i in 1..<Self.n {
            state[i] = 6_364_136_223_846_793_005 &* (state[i - 1] ^ (state[i - 1] >> 62)) &+ UInt64(i)
        }
    }

    mutating func next() -> UInt64 {
        if index >= Self.n { twist() }
        var x = state[index]
        index += 1
        x ^= (x >> 29) & 0x5555_5555_5555_5555
        x ^= (x << 17) & 0x71D6_7FFF_EDA6_0000
        x ^= (x << 37) & 0xFFF7_EEE0_0000_0000
        x ^= x >> 43
        return x
    }

    private mutating func twist() {
        for i in 0..<Self.n {
            let x = (state[i] & Self.upperMask) | (state[(i + 1) % Self.n] & Self.lowerMask)
            var shifted = x >> 1
            if x & 1 != 0 { shifted ^= 0xB502_6F5A_A966_19E9 }
            state[i] = state[(i + Self.m) % Self.n] ^ shifted
        }
        index = 0
    }
}

enum Inputs {
    /// Uniform [-1, 1) float32 values of `shape` from mt19937_64(seed), drawn exactly as the
    /// native runner draws them (53 high bits to a double in [0, 1), then 2u - 1).
    static func seededUniform(shape: [Int], seed: Int) -> [Float] {
        var generator = MersenneTwister64(seed: UInt64(bitPattern: Int64(seed)))
        let count = shape.reduce(1, *)
        return (0..<count).map { _ in
            let unit = Double(generator.next() >> 11) * 0x1p-53
            return Float(2.0 * unit - 1.0)
        }
    }

    /// The check inputs: raw little-endian float32 tensors of `shape`, back to back
    /// (contract version 3). Throws when the file does not hold whole inputs.
    static func checkInputs(at url: URL, shape: [Int]) throws -> [[Float]] {
        let data = try Data(contentsOf: url)
        let perInput = shape.reduce(1, *)
        let floats = data.count / 4
        guard perInput > 0, data.count % 4 == 0, floats > 0, floats % perInput == 0 else {
            throw BenchError.failed("the check inputs hold \(data.count) bytes, not whole float32 "
                                    + "inputs of shape \(shape)")
        }
        // Unaligned loads (Data's bytes need not be aligned for Float), read as little-endian
        // whatever the host (every iPhone is little-endian too).
        let values: [Float] = data.withUnsafeBytes { raw in
            (0..<floats).map { i in
                Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self)))
            }
        }
        return stride(from: 0, to: floats, by: perInput).map { Array(values[$0..<$0 + perInput]) }
    }

    /// A runtime's output as the contract's CheckOutput: a value that is not finite becomes null.
    /// Throws when the values do not fill the shape (a runtime read its output wrongly).
    static func checkOutput(shape: [Int], values: [Float]) throws -> CheckOutput {
        guard shape.reduce(1, *) == values.count else {
            throw BenchError.failed("the model's first output has \(values.count) values for shape \(shape)")
        }
        return CheckOutput(shape: shape, values: values.map { $0.isFinite ? Double($0) : nil })
    }
}
