// Checks a JSON document against device_runners/contract.schema.json, the schema every runner's
// result is validated against in Python (contract.py), without a JSON Schema library: the package
// depends on Foundation alone. It knows the keywords that schema uses and a few more, and reports
// any other keyword as a problem, so a schema that grows a keyword fails here until this learns it.

import Foundation

/// A JSON value as JSONDecoder reads it: booleans stay booleans (JSONDecoder does not read 1 as
/// true), every number is a Double.
enum JSONValue: Decodable, Equatable, CustomStringConvertible {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    static func parse(_ data: Data) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: data)
    }

    subscript(key: String) -> JSONValue? {
        if case .object(let fields) = self { return fields[key] }
        return nil
    }

    /// Compact JSON-like text, for messages.
    var description: String {
        switch self {
        case .null: return "null"
        case .bool(let v): return "\(v)"
        case .number(let v): return v.rounded() == v && abs(v) < 1e15 ? "\(Int(v))" : "\(v)"
        case .string(let v): return v.debugDescription
        case .array(let v): return "[" + v.map { $0.description }.joined(separator: ", ") + "]"
        case .object(let v):
            return "{" + v.keys.sorted().map { "\($0.debugDescription): \(v[$0]!)" }.joined(separator: ", ") + "}"
        }
    }

    var object: [String: JSONValue]? { if case .object(let v) = self { return v } else { return nil } }
    var array: [JSONValue]? { if case .array(let v) = self { return v } else { return nil } }
    var string: String? { if case .string(let v) = self { return v } else { return nil } }
    var number: Double? { if case .number(let v) = self { return v } else { return nil } }
    var bool: Bool? { if case .bool(let v) = self { return v } else { return nil } }
}

struct SchemaChecker {
    let root: JSONValue

    /// Keywords that annotate and never reject.
    private static let annotations: Set<String> = [
        "$schema", "$id", "$defs", "definitions", "$comment", "title", "description", "default",
        "examples", "deprecated", "readOnly", "writeOnly", "format",
    ]

    init(contentsOf url: URL) throws {
        root = try JSONValue.parse(Data(contentsOf: url))
    }

    /// The contract's schema in this checkout.
    static func contract() throws -> SchemaChecker {
        try SchemaChecker(contentsOf: repositoryRoot.appendingPathComponent("device_runners/contract.schema.json"))
    }

    /// Every way `value` breaks the definition at `reference` ("#/$defs/RunResult"), one line each.
    func problems(_ value: JSONValue, against reference: String) -> [String] {
        guard let schema = resolve(reference) else { return ["the schema has no \(reference)"] }
        return problems(value, schema: schema, at: "")
    }

    private func resolve(_ reference: String) -> JSONValue? {
        guard reference.hasPrefix("#") else { return nil }
        var node: JSONValue? = root
        for part in reference.dropFirst().split(separator: "/") {
            node = node?[part.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")]
        }
        return node
    }

    private func problems(_ value: JSONValue, schema: JSONValue, at path: String) -> [String] {
        if case .bool(let accepts) = schema { return accepts ? [] : ["\(path): not allowed"] }
        guard let keywords = schema.object else { return ["\(path): the schema here is not an object"] }
        var found: [String] = []
        for (keyword, argument) in keywords.sorted(by: { $0.key < $1.key }) {
            found += check(keyword, argument, keywords, value, at: path)
        }
        return found
    }

    private func check(_ keyword: String, _ argument: JSONValue, _ keywords: [String: JSONValue],
                       _ value: JSONValue, at path: String) -> [String] {
        let here = path.isEmpty ? "/" : path
        switch keyword {
        case _ where Self.annotations.contains(keyword):
            return []
        case "then", "else":
            return []  // applied by "if"
        case "$ref":
            guard let reference = argument.string, let target = resolve(reference) else {
                return ["\(here): cannot resolve \(argument)"]
            }
            return problems(value, schema: target, at: path)
        case "type":
            let names = argument.array?.compactMap { $0.string } ?? [argument.string ?? "?"]
            return names.contains { Self.has(type: $0, value) } ? [] : ["\(here): \(Self.describe(value)) is not \(names.joined(separator: " or "))"]
        case "enum":
            return (argument.array ?? []).contains(value) ? [] : ["\(here): \(Self.describe(value)) is not one of \(argument)"]
        case "const":
            return argument == value ? [] : ["\(here): \(Self.describe(value)) is not \(argument)"]
        case "properties":
            guard let fields = value.object, let properties = argument.object else { return [] }
            return properties.keys.sorted().flatMap { key -> [String] in
                guard let field = fields[key], let schema = properties[key] else { return [] }
                return problems(field, schema: schema, at: "\(path)/\(key)")
            }
        case "patternProperties":
            guard let fields = value.object, let patterns = argument.object else { return [] }
            return patterns.keys.sorted().flatMap { pattern -> [String] in
                fields.keys.sorted().filter { Self.matches(pattern, $0) }.flatMap { key in
                    problems(fields[key]!, schema: patterns[pattern]!, at: "\(path)/\(key)")
                }
            }
        case "additionalProperties":
            guard let fields = value.object else { return [] }
            let declared = Set(keywords["properties"]?.object?.keys.map { $0 } ?? [])
            let patterns = keywords["patternProperties"]?.object?.keys.map { $0 } ?? []
            let extra = fields.keys.sorted().filter { key in
                !declared.contains(key) && !patterns.contains { Self.matches($0, key) }
            }
            return extra.flatMap { problems(fields[$0]!, schema: argument, at: "\(path)/\($0)") }
        case "required":
            guard let fields = value.object else { return [] }
            let missing = (argument.array ?? []).compactMap { $0.string }.filter { fields[$0] == nil }
            return missing.map { "\(here): lacks \($0)" }
        case "items":
            guard let elements = value.array else { return [] }
            return elements.enumerated().flatMap { item in
                problems(item.element, schema: argument, at: "\(path)/\(item.offset)")
            }
        case "minItems", "maxItems":
            guard let elements = value.array, let bound = argument.number else { return [] }
            let ok = keyword == "minItems" ? Double(elements.count) >= bound : Double(elements.count) <= bound
            return ok ? [] : ["\(here): \(elements.count) items, \(keyword) is \(bound)"]
        case "minLength", "maxLength":
            guard let text = value.string, let bound = argument.number else { return [] }
            let length = Double(text.unicodeScalars.count)
            let ok = keyword == "minLength" ? length >= bound : length <= bound
            return ok ? [] : ["\(here): \(text.debugDescription) breaks \(keyword) \(bound)"]
        case "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum":
            guard let number = value.number, let bound = argument.number else { return [] }
            let ok: Bool
            switch keyword {
            case "minimum": ok = number >= bound
            case "maximum": ok = number <= bound
            case "exclusiveMinimum": ok = number > bound
            default: ok = number < bound
            }
            return ok ? [] : ["\(here): \(number) breaks \(keyword) \(bound)"]
        case "pattern":
            guard let text = value.string, let pattern = argument.string else { return [] }
            return Self.matches(pattern, text) ? [] : ["\(here): \(text.debugDescription) does not match \(pattern)"]
        case "if":
            let branch = problems(value, schema: argument, at: path).isEmpty ? "then" : "else"
            return keywords[branch].map { problems(value, schema: $0, at: path) } ?? []
        case "allOf":
            return (argument.array ?? []).flatMap { problems(value, schema: $0, at: path) }
        case "anyOf":
            return (argument.array ?? []).contains { problems(value, schema: $0, at: path).isEmpty }
                ? [] : ["\(here): \(Self.describe(value)) matches none of anyOf"]
        case "oneOf":
            let matching = (argument.array ?? []).filter { problems(value, schema: $0, at: path).isEmpty }.count
            return matching == 1 ? [] : ["\(here): \(Self.describe(value)) matches \(matching) of oneOf, not 1"]
        case "not":
            return problems(value, schema: argument, at: path).isEmpty ? ["\(here): matches a schema it must not"] : []
        default:
            return ["\(here): this test's schema checker does not know the keyword \(keyword): "
                    + "teach it (Tests/HarnessCoreTests/SchemaCheck.swift)"]
        }
    }

    private static func has(type: String, _ value: JSONValue) -> Bool {
        switch (type, value) {
        case ("null", .null), ("boolean", .bool), ("string", .string), ("array", .array), ("object", .object),
             ("number", .number):
            return true
        case ("integer", .number(let number)):
            return number.rounded() == number
        default:
            return false
        }
    }

    private static func matches(_ pattern: String, _ text: String) -> Bool {
        guard let regex = try? NSRegularExpression(pattern: pattern) else { return false }
        return regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
    }

    /// A value in a message: itself when short, its kind otherwise.
    private static func describe(_ value: JSONValue) -> String {
        switch value {
        case .array(let v): return "an array of \(v.count)"
        case .object: return "an object"
        default: return value.description
        }
    }
}
