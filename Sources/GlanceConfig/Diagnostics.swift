/// One finding of validation. Rendered as a single line naming the file (and line), the section and
/// the option, so an operator knows exactly what to edit.
public struct Diagnostic: Sendable, Equatable, CustomStringConvertible {
    public enum Severity: String, Sendable { case error, warning }
    public let severity: Severity
    public let location: SourceLocation
    public let section: String?
    public let option: String?
    public let message: String

    public var description: String {
        var s = "\(location): "
        if severity == .warning { s += "warning: " }
        if let section { s += "[\(section)] " }
        if let option { s += "\(option): " }
        return s + message
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
