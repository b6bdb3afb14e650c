// ExecuTorch `.pte` through ExecuTorch's Android library (org.pytorch.executorch: Module, Tensor,
// EValue). The AAR executorch-android-vulkan registers both the XNNPACK and the Vulkan backends,
// so which one runs is decided by how the .pte was lowered, as on every other runner; the
// request's backend is checked against what the program uses. Mirrors
// device_runners/native/harness_runner.cpp's load phase (file load mode, then load("forward")).
// Checked against extension/android of ExecuTorch's release/1.4 and main (Module.kt,
// ExecutorchRuntimeException.kt, jni/jni_layer.cpp): loadMethod returns Unit and throws
// ExecutorchRuntimeException (with its errorCode) on failure; forward throws on failure too, and
// wraps the input's direct buffer (from_blob) but copies each output into a new Java Tensor, so a
// sample of Module.forward includes that copy (docs/android.md, "What a sample times").

package org.harnessbench.bench

import java.io.File
import org.harnessbench.core.BenchError
import org.harnessbench.core.BenchRuntime
import org.harnessbench.core.RunRequest
import org.harnessbench.core.TensorOutput
import org.pytorch.executorch.EValue
import org.pytorch.executorch.ExecutorchRuntimeException
import org.pytorch.executorch.Module
import org.pytorch.executorch.Tensor

class ExecuTorchRuntime : BenchRuntime {
    override val name = "executorch"
    override val version: String = BuildConfig.EXECUTORCH_VERSION  // the AAR reports none
    override val timedCall = "Module.forward"

    private var module: Module? = null
    private var input: EValue? = null
    private var outputs: Array<EValue> = emptyArray()
    private val loadDetails = LinkedHashMap<String, Any?>()

    override fun load(artifact: File, request: RunRequest) {
        // numThreads sizes ExecuTorch's thread pool (0 would be its own default).
        val module = Module.load(artifact.absolutePath, Module.LOAD_MODE_FILE, request.threads.toInt())
        try {
            module.loadMethod("forward")
        } catch (e: ExecutorchRuntimeException) {
            module.destroy()
            throw BenchError("ExecuTorch could not load the forward method (error 0x${Integer.toHexString(e.errorCode)}): " +
                             "${e.message} (adb logcat -s ExecuTorch says more)")
        }
        this.module = module
        val backends = module.getMethodMetadata("forward").backends.toList()
        loadDetails["backends"] = backends
        loadDetails["load_mode"] = "file"
        loadDetails["threads_applied"] = true
        val asked = request.backend.orEmpty()
        if (asked == "vulkan" && backends.none { it.contains("Vulkan") }) {
            throw BenchError("the request asks for vulkan, but the program uses ${backends.ifEmpty { listOf("no delegate") }}")
        }
    }

    override val details: Map<String, Any?> get() = loadDetails

    override fun setInput(values: FloatArray, shape: List<Long>) {
        input = EValue.from(Tensor.fromBlob(values, shape.toLongArray()))
    }

    override fun run() {
        val module = module ?: throw BenchError("the program is not loaded")
        // Throws ExecutorchRuntimeException on failure (never an empty array): the trial reports it.
        outputs = module.forward(input ?: throw BenchError("no input was set"))
    }

    override fun firstOutput(): TensorOutput {
        val first = outputs.firstOrNull() ?: throw BenchError("the model returned no output")
        if (!first.isTensor) throw BenchError("the model's first output is not a tensor")
        val tensor = first.toTensor()
        return TensorOutput(tensor.shape().toList(), tensor.dataAsFloatArray)
    }

    override fun close() {
        module?.destroy()
        module = null
    }
}
