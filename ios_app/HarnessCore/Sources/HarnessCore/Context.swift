// The result's free-form `context`, built as [String: Any] while a trial runs, becomes quicktype's
// JSONAny (which has no public initialiser) through JSONSerialization and back. Values JSON
// cannot hold are refused by name first, the same on Darwin and Linux Foundation.

import Foundation

func jsonContext(_ context: [String: Any]) throws -> [String: JSONAny] {
    if let path = firstNonJSONValue(context, at: "context") {
        throw BenchError.failed("\(path) holds a value JSON cannot (NaN, infinity or a non-JSON type)")
    }
    let data = try JSONSerialization.data(withJSONObject: context)
    return try JSONDecoder().decode([String: JSONAny].self, from: data)
}

/// Where in `value` the first thing JSON cannot hold sits ("context/input/seed"), or nil.
private func firstNonJSONValue(_ value: Any, at path: String) -> String? {
    switch value {
    case let dictionary as [String: Any]:
        for key in dictionary.keys.sorted() {
            if let bad = firstNonJSONValue(dictionary[key]!, at: "\(path)/\(key)") { return bad }
        }
        return nil
    case let array as [Any]:
        for (index, element) in array.enumerated() {
            if let bad = firstNonJSONValue(element, at: "\(path)/\(index)") { return bad }
        }
        return nil
    case is String, is Bool, is Int:
        return nil
    case let number as Double:
        return number.isFinite ? nil : path
    case let number as Float:
        return number.isFinite ? nil : path
    default:
        return JSONSerialization.isValidJSONObject([value]) ? nil : path
    }
}
