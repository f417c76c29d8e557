/// One finding of validation. Rendered as a single line naming the file (and line), the section and
/// the option, so an operator knows exactly what to edit.
public struct Diagnostic: Sendable, Equatable, CustomStringConvertible {
    public enum Severity: String, Sendable { case error, warning }
    public let severity: Severity
    public let location: SourceLocation
    public let section: String?
    public let option: String?
    public let message: String

    /// One line, whatever the message quotes: a value spanning lines (an INI continuation) or a
    /// control character shows escaped.
    public var description: String {
        var s = "\(OneLine.escape(location.description)): "
        if severity == .warning { s += "warning: " }
        if let section { s += "[\(OneLine.escape(section))] " }
        if let option { s += "\(OneLine.escape(option)): " }
        return s + OneLine.escape(message)
    }
}

/// Text made to stay on one line: line breaks, tabs and other control characters escaped.
public enum OneLine {
    public static func escape(_ text: String) -> String {
        guard text.unicodeScalars.contains(where: isControl) else { return text }
        var out = ""
        for scalar in text.unicodeScalars {
            if isControl(scalar) { out += scalar.escaped(asASCII: true) } else { out.unicodeScalars.append(scalar) }
        }
        return out
    }

    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || scalar.value == 0x7f || scalar == "\u{2028}" || scalar == "\u{2029}" || scalar == "\u{85}"
    }
}

/// Collects every problem instead of stopping at the first.
public struct Diagnostics: Sendable {
    public private(set) var all: [Diagnostic] = []
    public init() {}

    public var errors: [Diagnostic] { all.filter { $0.severity == .error } }
    public var warnings: [Diagnostic] { all.filter { $0.severity == .warning } }
    public var hasErrors: Bool { all.contains { $0.severity == .error } }

    public mutating func error(at location: SourceLocation, section: String?, option: String?, _ message: String) {
        all.append(Diagnostic(severity: .error, location: location, section: section, option: option, message: message))
    }
    public mutating func warning(at location: SourceLocation, section: String?, option: String?, _ message: String) {
        all.append(Diagnostic(severity: .warning, location: location, section: section, option: option, message: message))
    }
}
