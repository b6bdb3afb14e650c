// Which runtimes this build has, by the contract's `runtime` names, and the backends each can
// run (the status answer's `delegates`). The harness dispatches on `runtime`, never on the format.

package org.harnessbench.bench

import org.harnessbench.core.RuntimeTable

object AndroidRuntimes {
    private val KNOWN = listOf("executorch", "litert")

    val table = RuntimeTable(mapOf("executorch" to { ExecuTorchRuntime() }, "litert" to { LiteRTRuntime() }), KNOWN)

    /** ExecuTorch runs a .pte as it was lowered; LiteRT's backend picks the delegate. */
    val DELEGATES = mapOf("executorch" to listOf("xnnpack", "vulkan"), "litert" to listOf("cpu", "gpu", "nnapi"))

    fun versions(): Map<String, String> = KNOWN.associateWith { name ->
        try { table.make(name).use { it.version } } catch (e: Throwable) { "unavailable: ${e.message}" }
    }
}
