// The inputs of a trial: the seeded input every timed iteration runs on, and the check inputs
// whose outputs go back to the harness for its numerics comparison (contract version 3).

package org.harnessbench.core

import java.io.File
import java.nio.ByteBuffer
import java.nio.ByteOrder

/** mt19937_64, the generator device_runners/native/harness_runner.cpp seeds its input with. Its
 *  output is fixed by the C++ standard (the 10000th draw from the default seed 5489 is
 *  9981545732273789042), so the app feeds the same input as the native runner for a seed. */
class MersenneTwister64(seed: Long) {
    private val state = LongArray(N)
    private var index = N

    init {
        state[0] = seed
        for (i in 1 until N) {
            state[i] = 6364136223846793005L * (state[i - 1] xor (state[i - 1] ushr 62)) + i
        }
    }

    fun next(): Long {
        if (index >= N) twist()
        var x = state[index++]
        x = x xor ((x ushr 29) and 0x5555555555555555L)
        x = x xor ((x shl 17) and 0x71D67FFFEDA60000L)
        x = x xor ((x shl 37) and 0xFFF7EEE000000000uL.toLong())
        x = x xor (x ushr 43)
        return x
    }

    private fun twist() {
        for (i in 0 until N) {
            val x = (state[i] and UPPER_MASK) or (state[(i + 1) % N] and LOWER_MASK)
            var shifted = x ushr 1
            if (x and 1L != 0L) shifted = shifted xor 0xB5026F5AA96619E9uL.toLong()
            state[i] = state[(i + M) % N] xor shifted
        }
        index = 0
    }

    private companion object {
        const val N = 312
        const val M = 156
        val UPPER_MASK = 0xFFFFFFFF80000000uL.toLong()
        val LOWER_MASK = 0x7FFFFFFFL
    }
}

/** The first output of one check inference, as the runtime computed it. */
class TensorOutput(val shape: List<Long>, val values: FloatArray)

object Inputs {
    fun elementCount(shape: List<Long>): Long = shape.fold(1L) { a, d -> a * d }

    /** Uniform [-1, 1) float32 values of `shape` from mt19937_64(seed), drawn exactly as the
     *  native runner draws them (53 high bits to a double in [0, 1), then 2u - 1). */
    fun seededUniform(shape: List<Long>, seed: Long): FloatArray {
        val generator = MersenneTwister64(seed)
        val count = elementCount(shape)
        require(count <= Int.MAX_VALUE) { "input_shape $shape has $count elements, more than an array holds" }
        return FloatArray(count.toInt()) {
            val unit = (generator.next() ushr 11).toDouble() * UNIT
            (2.0 * unit - 1.0).toFloat()
        }
    }

    private const val UNIT = 1.0 / (1L shl 53)

    /** The check inputs: raw little-endian float32 tensors of `shape`, back to back. Throws
     *  BenchError when the file does not hold whole inputs. */
    fun checkInputs(file: File, shape: List<Long>): List<FloatArray> {
        if (!file.isFile) throw BenchError("cannot read the check inputs ${file.path}")
        return checkInputs(file.readBytes(), shape)
    }

    fun checkInputs(bytes: ByteArray, shape: List<Long>): List<FloatArray> {
        val perInput = elementCount(shape)
        val floats = bytes.size / 4
        if (bytes.size % 4 != 0 || floats == 0 || floats % perInput != 0L) {
            throw BenchError("the check inputs hold ${bytes.size} bytes, not whole float32 inputs of shape $shape")
        }
        val buffer = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer()
        val n = perInput.toInt()
        return List(floats / n) { k -> FloatArray(n).also { buffer.position(k * n); buffer.get(it) } }
    }

    /** A runtime's output as the contract's CheckOutput: a value that is not finite becomes null. */
    fun checkOutput(output: TensorOutput): CheckOutput {
        val expected = elementCount(output.shape)
        if (expected != output.values.size.toLong()) {
            throw BenchError("the model's first output has ${output.values.size} values for shape ${output.shape}")
        }
        return CheckOutput(shape = output.shape,
                           values = output.values.map { if (it.isFinite()) it.toDouble() else null })
    }
}
