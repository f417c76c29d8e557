/// The shape of an option as oslo.config registers it; used for generic validation and listings.
public enum OptionKind: Sendable, Equatable {
    case string(choices: [String]?)
    case bool
    case integer(min: Int?, max: Int?)
    case port
    case hostAddress
    case multiString
    case list
    case dict
}

/// One option, declared once with Glance's name, type and default; `decode` turns the raw INI text
/// into the typed value with oslo's rules.
public struct Option<Value: Sendable>: Sendable {
    public let name: String
    public let kind: OptionKind
    public let defaultValue: Value
    /// Passwords and keys: their values never appear in any output or diagnostic.
    public let isSecret: Bool
    /// Old names oslo still accepts (`deprecated_name`); the current name wins when both are set.
    public let deprecatedNames: [String]
    let decode: @Sendable ([String]) throws(OptionValueError) -> Value

    public var erased: AnyOption {
        AnyOption(name: name, kind: kind, isSecret: isSecret, deprecatedNames: deprecatedNames) { raw throws(OptionValueError) in
            _ = try decode(raw)
        }
    }
}

/// An option with its type erased, for schemas: what a group accepts and how to check a raw value.
public struct AnyOption: Sendable {
    public let name: String
    public let kind: OptionKind
    public let isSecret: Bool
    public let deprecatedNames: [String]
    public let check: @Sendable ([String]) throws(OptionValueError) -> Void
}

// Every decoder receives all raw values of the option in config order; single-valued options use
// the last one (oslo's `values[-1]`), MultiStr options all of them.
extension Option where Value == String? {
    public static func string(_ name: String, default value: String? = nil, choices: [String]? = nil,
                              secret: Bool = false, deprecatedNames: [String] = []) -> Self {
        Option(name: name, kind: .string(choices: choices), defaultValue: value, isSecret: secret,
               deprecatedNames: deprecatedNames) { raw throws(OptionValueError) in
            let v = raw.last!
            if let choices, !choices.contains(v) {
                throw .invalid("valid values are \(choices.joined(separator: ", ")), got '\(v)'")
            }
            return v
        }
    }

    public static func hostAddress(_ name: String, default value: String? = nil) -> Self {
        Option(name: name, kind: .hostAddress, defaultValue: value, isSecret: false, deprecatedNames: []) {
            raw throws(OptionValueError) in try OptionParsing.hostAddress(raw.last!)
        }
    }
}

extension Option where Value == Bool {
    public static func bool(_ name: String, default value: Bool, deprecatedNames: [String] = []) -> Self {
        Option(name: name, kind: .bool, defaultValue: value, isSecret: false, deprecatedNames: deprecatedNames) {
            raw throws(OptionValueError) in try OptionParsing.bool(raw.last!)
        }
    }
}

extension Option where Value == Int? {
    /// An empty value means unset (oslo returns None), which falls back to nothing, not the default.
    public static func integer(_ name: String, default value: Int?, min: Int? = nil, max: Int? = nil) -> Self {
        Option(name: name, kind: .integer(min: min, max: max), defaultValue: value, isSecret: false,
               deprecatedNames: []) { raw throws(OptionValueError) in
            try OptionParsing.integer(raw.last!, min: min, max: max)
        }
    }

    public static func port(_ name: String, default value: Int?) -> Self {
        Option(name: name, kind: .port, defaultValue: value, isSecret: false, deprecatedNames: []) {
            raw throws(OptionValueError) in try OptionParsing.port(raw.last!)
        }
    }
}

extension Option where Value == [String]? {
    /// MultiStrOpt: accumulates every occurrence across sections and files; an empty line is `""`.
    public static func multiString(_ name: String) -> Self {
        Option(name: name, kind: .multiString, defaultValue: nil, isSecret: false, deprecatedNames: []) {
            raw throws(OptionValueError) in raw
        }
    }
}

extension Option where Value == [String] {
    public static func list(_ name: String, default value: [String] = []) -> Self {
        Option(name: name, kind: .list, defaultValue: value, isSecret: false, deprecatedNames: []) {
            raw throws(OptionValueError) in OptionParsing.list(raw.last!)
        }
    }
}

extension Option where Value == OrderedPairs {
    public static func dict(_ name: String, default value: OrderedPairs = OrderedPairs()) -> Self {
        Option(name: name, kind: .dict, defaultValue: value, isSecret: false, deprecatedNames: []) {
            raw throws(OptionValueError) in try OptionParsing.dict(raw.last!).value
        }
    }
}

/// A resolved value and where it came from (nil: the default applies).
public struct Resolved<Value: Sendable>: Sendable {
    public let value: Value
    public let location: SourceLocation?
    public var isSet: Bool { location != nil }
}

extension ConfigSection {
    /// The raw assignments of an option under its name, or else under a deprecated name.
    func rawAssignments(_ name: String, deprecatedNames: [String]) -> [IniAssignment] {
        let current = assignments(name)
        if !current.isEmpty { return current }
        for old in deprecatedNames {
            let found = assignments(old)
            if !found.isEmpty { return found }
        }
        return []
    }

    /// Reads a typed option; a bad value is reported to `diagnostics` and the default is used.
    public func read<V>(_ option: Option<V>, into diagnostics: inout Diagnostics) -> Resolved<V> {
        let raw = rawAssignments(option.name, deprecatedNames: option.deprecatedNames)
        guard let last = raw.last else { return Resolved(value: option.defaultValue, location: nil) }
        do throws(OptionValueError) {
            return Resolved(value: try option.decode(raw.map(\.value)), location: last.location)
        } catch {
                let message = error.message
            diagnostics.error(at: last.location, section: name, option: option.name,
                              option.isSecret ? "invalid value" : message)
            return Resolved(value: option.defaultValue, location: last.location)
        }
    }
}
