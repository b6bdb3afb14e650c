// The runtime-independent measurement protocol: warm-up by count or until settled, then timed
// iterations until both minimums or either maximum, every sample kept. It follows
// device_runners/timing.py, device_runners/native/harness_runner.cpp and the iOS app's
// Measure.swift, so a sample means the same on every runner. The clock is injected: the app
// passes SystemClock.elapsedRealtimeNanos, the JVM entry System.nanoTime, the tests a fake.

package org.harnessbench.core

/** A monotonic clock in nanoseconds. */
fun interface Clock {
    fun nanos(): Long
}

/** Milliseconds between two readings of a Clock. */
fun msBetween(start: Long, end: Long): Double = (end - start) / 1e6

/** The settle rule of device_runners/timing.py: the median of the last `WINDOW` warm-up samples
 *  within `TOLERANCE` of the median of the `WINDOW` before them. Medians, not means, so one
 *  preempted iteration does not hold the warm-up open. */
object Settle {
    const val WINDOW = 10
    const val TOLERANCE = 0.02
    const val MAX_SECONDS = 10.0  // SETTLE_MAX_S

    fun settled(samples: List<Double>): Boolean {
        if (samples.size < 2 * WINDOW) return false
        val last = samples.subList(samples.size - WINDOW, samples.size).sorted()[WINDOW / 2]
        val before = samples.subList(samples.size - 2 * WINDOW, samples.size - WINDOW).sorted()[WINDOW / 2]
        return kotlin.math.abs(last - before) <= TOLERANCE * before
    }
}

/** How the timed loop ended: `stopReason` is minimums_met, max_iterations or max_duration_s. */
data class TimedOutcome(val stopReason: String, val durationS: Double)

/** The loops of one trial. `runOnce` is the timed call (one inference on the input already set);
 *  `afterEach` runs after every iteration, outside its timing (the memory high-water mark).
 *  `ownNanos` is what the runtime itself timed of the last call, when it times a narrower part of
 *  it than the clock can reach (LiteRT's native invoke inside Interpreter.run): that becomes the
 *  sample, while the loop's durations stay on the clock. */
class Loops(
    private val clock: Clock,
    private val request: RunRequest,
    private val runOnce: () -> Unit,
    private val afterEach: () -> Unit = {},
    private val ownNanos: () -> Long? = { null },
) {
    private val maxDurationS = request.maxDurationS ?: DEFAULT_MAX_DURATION_S

    /** One timed call: the runtime's own timing of it where it has one, else the clock's. */
    fun once(): Double {
        val start = clock.nanos()
        runOnce()
        val end = clock.nanos()
        val sample = ownNanos()?.let { it / 1e6 } ?: msBetween(start, end)
        afterEach()
        return sample
    }

    /** Warm-up samples into `samples`, and what was done (context["warmup"]). By count: exactly
     *  `warmup_iterations`. Until settled: at least that many, then on until Settle.settled,
     *  bounded by `max_iterations` and min(10 s, `max_duration_s`), as timing.py does. */
    fun warmUp(samples: MutableList<Double>): Map<String, Any?> {
        val minimum = request.warmupIterations
        if (request.warmupUntilSettled != true) {
            while (samples.size < minimum) samples.add(once())
            return linkedMapOf("mode" to "count", "iterations" to samples.size.toLong())
        }
        val maxNs = minOf(Settle.MAX_SECONDS, maxDurationS) * 1e9
        val start = clock.nanos()
        while (true) {
            samples.add(once())
            if (samples.size >= minimum && Settle.settled(samples)) {
                return linkedMapOf("mode" to "settle", "iterations" to samples.size.toLong(), "settled" to true)
            }
            if (samples.size >= request.maxIterations || (clock.nanos() - start) >= maxNs) {
                return linkedMapOf("mode" to "settle", "iterations" to samples.size.toLong(), "settled" to false)
            }
        }
    }

    /** Timed samples into `samples` until both `min_iterations` and `min_duration_s` are reached,
     *  or either maximum; at least one, since an ok result must carry one. */
    fun timed(samples: MutableList<Double>): TimedOutcome {
        val start = clock.nanos()
        while (true) {
            val elapsed = (clock.nanos() - start) / 1e9
            if (samples.size >= request.maxIterations) return TimedOutcome("max_iterations", elapsed)
            if (samples.size >= request.minIterations && elapsed >= request.minDurationS) {
                return TimedOutcome("minimums_met", elapsed)
            }
            if (samples.isNotEmpty() && elapsed >= maxDurationS) return TimedOutcome("max_duration_s", elapsed)
            samples.add(once())
        }
    }
}
