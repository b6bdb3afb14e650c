// The inputs a trial feeds: the seeded input every timed iteration runs on (the native runner's,
// bit for bit) and the check inputs the harness pushes as raw float32.

import Foundation
import XCTest
@testable import HarnessCore

final class InputsTests: XCTestCase {
    func testMersenneTwisterDrawsWhatTheCppStandardFixes() {
        // [rand.predef]: the 10000th consecutive invocation of a default-constructed mt19937_64
        // (seed 5489) produces 9981545732273789042.
        var generator = MersenneTwister64(seed: 5489)
        var draw: UInt64 = 0
        for _ in 0..<10_000 { draw = generator.next() }
        XCTAssertEqual(draw, 9_981_545_732_273_789_042)
    }

    func testTheSeededInputIsTheNativeRunnersBitForBit() {
        // device_runners/native/harness_runner.cpp's seeded_uniform_inputs, printed by g++ 12
        // (libstdc++) as float bit patterns; the Android core's tests pin the same seed-0 values.
        // Seed 0 is what the harness sends (contract.py RunRequest.seed); a negative seed is its
        // two's complement, as static_cast<uint64_t> makes it.
        let seed0: [UInt32] = [0xbf2e2f90, 0x3f7bfa75, 0xbf6bbd9c, 0x3e47ab48, 0x3dad3301, 0xbf62bbf4]
        XCTAssertEqual(Inputs.seededUniform(shape: [1, 6], seed: 0).map(\.bitPattern), seed0)
        XCTAssertEqual(Inputs.seededUniform(shape: [2], seed: 7).map(\.bitPattern), [0x3f023eca, 0x3f660acf])
        XCTAssertEqual(Inputs.seededUniform(shape: [2], seed: -1).map(\.bitPattern), [0xbf72bb6b, 0x3edf2444])
    }

    func testTheSeededInputIsUniformOnMinusOneToOne() {
        let values = Inputs.seededUniform(shape: [1, 3, 32, 32], seed: 0)
        XCTAssertEqual(values.count, 3 * 32 * 32)
        XCTAssertTrue(values.allSatisfy { $0 >= -1 && $0 < 1 })
        let mean = values.reduce(0, +) / Float(values.count)
        XCTAssertEqual(mean, 0, accuracy: 0.05)
    }

    func testCheckInputsAreRawLittleEndianFloat32TensorsBackToBack() throws {
        let files = try temporaryRoot(self)
        let two = files.resolve("harness/inputs/two.bin")
        try littleEndian([1, -2, 0.5, 3]).write(to: two)
        XCTAssertEqual(try Inputs.checkInputs(at: two, shape: [1, 2]), [[1, -2], [0.5, 3]])
        let ragged = files.resolve("harness/inputs/ragged.bin")
        try littleEndian([1, 2, 3]).write(to: ragged)
        XCTAssertThrowsError(try Inputs.checkInputs(at: ragged, shape: [1, 2])) { error in
            XCTAssertEqual("\(error)", "the check inputs hold 12 bytes, not whole float32 inputs of shape [1, 2]")
        }
    }

    func testACheckOutputHoldsNullWhereAValueIsNotFinite() throws {
        let output = try Inputs.checkOutput(shape: [1, 3], values: [1, Float.nan, -Float.infinity])
        XCTAssertEqual(output.shape, [1, 3])
        XCTAssertEqual(output.values, [1.0, nil, nil])
        XCTAssertThrowsError(try Inputs.checkOutput(shape: [1, 4], values: [1, 2])) { error in
            XCTAssertEqual("\(error)", "the model's first output has 2 values for shape [1, 4]")
        }
    }
}
