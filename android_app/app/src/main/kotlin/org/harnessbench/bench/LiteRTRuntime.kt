// LiteRT `.tflite` through the Interpreter API of com.google.ai.edge.litert (the API
// benchmark_model drives), with the request's thread count. The backend picks the delegate, with
// one meaning on every runner of the harness (docs/android.md, "LiteRT backends"):
//   "cpu", "xnnpack" or "": LiteRT on the CPU as it runs by default: XNNPACK for the operators it
//       supports, LiteRT's built-in kernels for the rest, sized to `threads`
//   "gpu": the GPU delegate (litert-gpu) with the options CompatibilityList gives this phone
//   "nnapi": the NNAPI delegate, the vendor's NPU/DSP/GPU driver behind Android's NN API
// and for gpu and nnapi XNNPACK still runs what the delegate leaves: LiteRT applies it lazily, after
// the explicit delegates, unless one of them took the whole graph (Interpreter.Options
// getUseXNNPACK() is true unless set false; Interpreter::ApplyLazyDelegateProviders). What the
// delegate took is not reported by the Interpreter API (benchmark_model's log says it); a delegate
// that refuses the whole graph fails the load, and the error says so.
// A sample is the native invoke alone: Interpreter.run copies the input in (TensorImpl.setTo, a
// memcpy) and the output out (copyTo) around it, so the sample is the interpreter's own timing of
// the invoke (getLastNativeInferenceDurationNanoseconds), the span the iOS app and the host time.
// Checked against LiteRT v1.4.1's sources: tflite/java/src/main/java/org/tensorflow/lite/
// (InterpreterApi, NativeInterpreterWrapper.run, TensorImpl), tflite/java/src/main/native/
// (nativeinterpreterwrapper_jni.cc createInterpreter, op_resolver_lazy_delegate_proxy.cc),
// tflite/core/interpreter.cc and tflite/delegates/gpu/java/.../CompatibilityList.java (Closeable).
// Integer inputs are quantized with the tensor's scale and zero point, as
// device_runners/host/runtimes.py does, so int8 models take the same images.

package org.harnessbench.bench

import java.io.File
import java.nio.ByteBuffer
import java.nio.ByteOrder
import org.harnessbench.core.BenchError
import org.harnessbench.core.BenchRuntime
import org.harnessbench.core.RunRequest
import org.harnessbench.core.TensorOutput
import org.tensorflow.lite.DataType
import org.tensorflow.lite.Delegate
import org.tensorflow.lite.Interpreter
import org.tensorflow.lite.TensorFlowLite
import org.tensorflow.lite.gpu.CompatibilityList
import org.tensorflow.lite.gpu.GpuDelegate
import org.tensorflow.lite.nnapi.NnApiDelegate

class LiteRTRuntime : BenchRuntime {
    override val name = "litert"
    override val version: String get() = TensorFlowLite.runtimeVersion()
    override val timedCall = "Interpreter.invoke"
    override val lastRunNanos: Long? get() = interpreter?.lastNativeInferenceDurationNanoseconds

    private var interpreter: Interpreter? = null
    private var delegate: Delegate? = null
    private var inputBuffer: ByteBuffer? = null
    private var outputBuffer: ByteBuffer? = null
    private val loadDetails = LinkedHashMap<String, Any?>()

    override fun load(artifact: File, request: RunRequest) {
        // XNNPACK on for every backend, as LiteRT's default: set here so the list below is true
        // whatever a later release defaults to.
        val options = Interpreter.Options().setNumThreads(request.threads.toInt()).setUseXNNPACK(true)
        val backend = request.backend.orEmpty()
        when (backend) {
            "", "cpu", "xnnpack" -> {}
            "gpu" -> {
                // CompatibilityList holds a native handle: closed as soon as it has answered.
                delegate = CompatibilityList().use { compatibility ->
                    if (!compatibility.isDelegateSupportedOnThisDevice) {
                        throw BenchError("LiteRT's GPU delegate does not support this phone's GPU", unsupported = true)
                    }
                    GpuDelegate(compatibility.bestOptionsForThisDevice)
                }
            }
            "nnapi" -> delegate = NnApiDelegate()
            else -> throw BenchError("unknown LiteRT backend '$backend'; use cpu, gpu or nnapi")
        }
        delegate?.let { options.addDelegate(it) }
        val interpreter = try {
            Interpreter(artifact, options)
        } catch (e: IllegalArgumentException) {
            throw BenchError("LiteRT cannot load the model with backend '${backend.ifEmpty { "cpu" }}': ${e.message}")
        }
        interpreter.allocateTensors()
        this.interpreter = interpreter
        // In the order LiteRT applies them: the explicit delegate first, XNNPACK for what it leaves.
        loadDetails["delegates"] = listOfNotNull(backend.takeIf { it == "gpu" || it == "nnapi" }, "xnnpack")
        if (delegate != null) {
            loadDetails["delegates_note"] = "xnnpack runs what the $backend delegate leaves (none when it took the whole graph)"
        }
        loadDetails["threads_applied"] = true
        loadDetails["delegate_coverage"] = "not reported by the Interpreter API (benchmark_model's log says it)"
        outputBuffer = ByteBuffer.allocateDirect(interpreter.getOutputTensor(0).numBytes()).order(ByteOrder.nativeOrder())
    }

    override val details: Map<String, Any?> get() = loadDetails

    override fun setInput(values: FloatArray, shape: List<Long>) {
        val interpreter = interpreter ?: throw BenchError("the model is not loaded")
        if (interpreter.inputTensorCount != 1) {
            throw BenchError("the model takes ${interpreter.inputTensorCount} inputs; this app feeds exactly one tensor")
        }
        val tensor = interpreter.getInputTensor(0)
        val modelShape = tensor.shape().map { it.toLong() }
        if (modelShape != shape) throw BenchError("input_shape $shape does not match the model's input $modelShape")
        val buffer = ByteBuffer.allocateDirect(tensor.numBytes()).order(ByteOrder.nativeOrder())
        when (tensor.dataType()) {
            DataType.FLOAT32 -> values.forEach { buffer.putFloat(it) }
            DataType.INT8, DataType.UINT8 -> {
                val q = tensor.quantizationParams()
                val (low, high) = if (tensor.dataType() == DataType.INT8) -128f to 127f else 0f to 255f
                values.forEach {
                    // numpy's np.round rounds half to even; so does Math.rint.
                    val v = (Math.rint((it / q.scale).toDouble()).toFloat() + q.zeroPoint).coerceIn(low, high)
                    buffer.put(v.toInt().toByte())
                }
            }
            else -> throw BenchError("the model's input is ${tensor.dataType()}; this app feeds float32 or " +
                                     "quantized int8/uint8", unsupported = true)
        }
        buffer.rewind()
        inputBuffer = buffer
    }

    override fun run() {
        val interpreter = interpreter ?: throw BenchError("the model is not loaded")
        val output = outputBuffer!!
        output.rewind()
        interpreter.run(inputBuffer, output)
    }

    override fun firstOutput(): TensorOutput {
        val interpreter = interpreter ?: throw BenchError("the model is not loaded")
        val tensor = interpreter.getOutputTensor(0)
        val buffer = outputBuffer!!.duplicate().order(ByteOrder.nativeOrder())
        buffer.rewind()
        val count = tensor.numElements()
        val values = when (tensor.dataType()) {
            DataType.FLOAT32 -> FloatArray(count) { buffer.getFloat() }
            DataType.INT8 -> tensor.quantizationParams().let { q ->
                FloatArray(count) { (buffer.get().toInt() - q.zeroPoint) * q.scale } }
            DataType.UINT8 -> tensor.quantizationParams().let { q ->
                FloatArray(count) { ((buffer.get().toInt() and 0xFF) - q.zeroPoint) * q.scale } }
            else -> throw BenchError("the model's first output is ${tensor.dataType()}; this app reads float32 or " +
                                     "quantized int8/uint8")
        }
        return TensorOutput(tensor.shape().map { it.toLong() }, values)
    }

    override fun close() {
        interpreter?.close()
        interpreter = null
        (delegate as? AutoCloseable)?.close()
        delegate = null
    }
}
