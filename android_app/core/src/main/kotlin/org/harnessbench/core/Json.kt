// Strict JSON, both ways, with no library: the JVM build cannot fetch one, and Android's org.json
// is not on the JVM. Values are Kotlin's own: Map<String, Any?> (insertion-ordered), List<Any?>,
// String, Boolean, null, Long (an integer literal that fits) and Double (any other number).
// As device_runners/contract.py: NaN and infinity have no JSON spelling, so the reader refuses
// the tokens NaN/Infinity and numbers beyond a double's range, and the writer refuses non-finite
// values, naming where they are.

package org.harnessbench.core

/** Text that is not strict JSON, or a value that cannot be written as JSON; `message` says where. */
class JsonException(message: String) : Exception(message)

object Json {
    fun parse(text: String): Any? = Reader(text).document()

    /** `value` as compact JSON (separators ", " and ": ", as Python's json.dumps writes). */
    fun write(value: Any?): String = StringBuilder().also { write(value, it, "") }.toString()

    private fun write(value: Any?, out: StringBuilder, path: String) {
        when (value) {
            null -> out.append("null")
            is String -> quote(value, out)
            is Boolean -> out.append(value)
            is Long, is Int, is Short, is Byte -> out.append(value.toString())
            is Double, is Float -> {
                val d = (value as Number).toDouble()
                if (!d.isFinite()) {
                    val what = if (d.isNaN()) "NaN" else if (d > 0) "infinite" else "minus infinity"
                    throw JsonException("${path.ifEmpty { "(top level)" }} is $what, which JSON cannot hold")
                }
                // An integral double keeps its ".0" (Kotlin prints 3.0), so it reads back a double.
                out.append(d.toString())
            }
            is Map<*, *> -> {
                out.append('{')
                var first = true
                for ((key, item) in value) {
                    if (key !is String) throw JsonException("$path has a key that is not a string: $key")
                    if (!first) out.append(", ")
                    first = false
                    quote(key, out)
                    out.append(": ")
                    write(item, out, if (path.isEmpty()) key else "$path/$key")
                }
                out.append('}')
            }
            is Iterable<*> -> {
                out.append('[')
                value.forEachIndexed { i, item ->
                    if (i > 0) out.append(", ")
                    write(item, out, "$path/$i")
                }
                out.append(']')
            }
            is FloatArray -> write(value.map { it.toDouble() }, out, path)
            is DoubleArray -> write(value.toList(), out, path)
            is LongArray -> write(value.toList(), out, path)
            is IntArray -> write(value.toList(), out, path)
            else -> throw JsonException("$path is a ${value::class.simpleName}, which JSON cannot hold")
        }
    }

    private fun quote(s: String, out: StringBuilder) {
        out.append('"')
        for (c in s) {
            when (c) {
                '"' -> out.append("\\\"")
                '\\' -> out.append("\\\\")
                '\n' -> out.append("\\n")
                '\r' -> out.append("\\r")
                '\t' -> out.append("\\t")
                '\b' -> out.append("\\b")
                '\u000C' -> out.append("\\f")
                else -> if (c < ' ') out.append("\\u%04x".format(c.code)) else out.append(c)
            }
        }
        out.append('"')
    }

    private class Reader(private val text: String) {
        private var i = 0

        fun document(): Any? {
            val value = value()
            skipSpace()
            if (i < text.length) fail("unexpected text after the document")
            return value
        }

        private fun fail(what: String): Nothing {
            val line = text.substring(0, minOf(i, text.length)).count { it == '\n' } + 1
            throw JsonException("$what at line $line, character ${i + 1}")
        }

        private fun skipSpace() {
            while (i < text.length && text[i] in " \t\r\n") i++
        }

        private fun value(): Any? {
            skipSpace()
            if (i >= text.length) fail("unexpected end of text")
            return when (val c = text[i]) {
                '{' -> obj()
                '[' -> array()
                '"' -> string()
                't' -> literal("true", true)
                'f' -> literal("false", false)
                'n' -> literal("null", null)
                'N' -> fail("NaN is not a JSON number")
                'I' -> fail("Infinity is not a JSON number")
                else -> if (c == '-' || c in '0'..'9') number() else fail("unexpected character '$c'")
            }
        }

        private fun literal(word: String, value: Any?): Any? {
            if (!text.startsWith(word, i)) fail("unexpected text")
            i += word.length
            return value
        }

        private fun obj(): Map<String, Any?> {
            i++
            val map = LinkedHashMap<String, Any?>()
            skipSpace()
            if (i < text.length && text[i] == '}') { i++; return map }
            while (true) {
                skipSpace()
                if (i >= text.length || text[i] != '"') fail("expected a string key")
                val key = string()
                skipSpace()
                if (i >= text.length || text[i] != ':') fail("expected ':'")
                i++
                map[key] = value()
                skipSpace()
                when (if (i < text.length) text[i] else ' ') {
                    ',' -> i++
                    '}' -> { i++; return map }
                    else -> fail("expected ',' or '}'")
                }
            }
        }

        private fun array(): List<Any?> {
            i++
            val list = ArrayList<Any?>()
            skipSpace()
            if (i < text.length && text[i] == ']') { i++; return list }
            while (true) {
                list.add(value())
                skipSpace()
                when (if (i < text.length) text[i] else ' ') {
                    ',' -> i++
                    ']' -> { i++; return list }
                    else -> fail("expected ',' or ']'")
                }
            }
        }

        private fun string(): String {
            i++
            val out = StringBuilder()
            while (true) {
                if (i >= text.length) fail("unterminated string")
                val c = text[i++]
                when {
                    c == '"' -> return out.toString()
                    c == '\\' -> {
                        if (i >= text.length) fail("unterminated string")
                        when (val e = text[i++]) {
                            '"', '\\', '/' -> out.append(e)
                            'b' -> out.append('\b')
                            'f' -> out.append('\u000C')
                            'n' -> out.append('\n')
                            'r' -> out.append('\r')
                            't' -> out.append('\t')
                            'u' -> {
                                val hex = text.substring(i, minOf(i + 4, text.length))
                                val code = hex.takeIf { it.length == 4 }?.toIntOrNull(16) ?: fail("bad \\u escape")
                                out.append(code.toChar())
                                i += 4
                            }
                            else -> fail("bad escape '\\$e'")
                        }
                    }
                    c < ' ' -> fail("control character in a string")
                    else -> out.append(c)
                }
            }
        }

        private fun number(): Any {
            val start = i
            if (text[i] == '-') i++
            if (i < text.length && text[i] == '0') {
                i++
            } else if (i < text.length && text[i] in '1'..'9') {
                while (i < text.length && text[i].isDigit()) i++
            } else {
                if (text.startsWith("Infinity", i)) fail("-Infinity is not a JSON number")
                fail("bad number")
            }
            var integral = true
            if (i < text.length && text[i] == '.') {
                integral = false
                i++
                if (i >= text.length || !text[i].isDigit()) fail("bad number")
                while (i < text.length && text[i].isDigit()) i++
            }
            if (i < text.length && (text[i] == 'e' || text[i] == 'E')) {
                integral = false
                i++
                if (i < text.length && (text[i] == '+' || text[i] == '-')) i++
                if (i >= text.length || !text[i].isDigit()) fail("bad number")
                while (i < text.length && text[i].isDigit()) i++
            }
            val literal = text.substring(start, i)
            if (integral) literal.toLongOrNull()?.let { return it }
            val d = literal.toDouble()
            if (!d.isFinite()) {
                i = start
                fail("$literal is beyond a double's range")
            }
            return d
        }
    }
}
