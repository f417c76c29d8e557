/// One `key = value` assignment as oslo.config's iniparser produces it: the value's lines already
/// joined with "\n", the first line unquoted (one matching pair of `"` or `'`), continuation lines
/// left-stripped.
public struct IniAssignment: Sendable, Equatable {
    public let section: String
    public let key: String
    public let value: String
    public let location: SourceLocation
}

public struct IniParseError: Error, Sendable, Equatable, CustomStringConvertible {
    public let location: SourceLocation
    public let message: String
    public var description: String { OneLine.escape("\(location): \(message)") }
}

/// A line-for-line port of `oslo_config/iniparser.py` (BaseParser.parse), because a glance-api.conf
/// must mean exactly what it means to Glance: no inline comments, an indented `# x` is a continuation,
/// a blank line ends a multi-line value, the first of `:`/`=` separates key from value.
public enum IniParser {
    public static func parse(_ text: String, file: String) -> Result<[IniAssignment], IniParseError> {
        var assignments: [IniAssignment] = []
        var section: String?
        var pendingKey: String?
        var pendingLines: [String] = []
        var pendingLine = 0

        func fail(_ line: Int, _ message: String) -> Result<[IniAssignment], IniParseError> {
            .failure(IniParseError(location: SourceLocation(file: file, line: line), message: message))
        }
        func flush() -> IniParseError? {
            guard let key = pendingKey else { return nil }
            pendingKey = nil
            defer { pendingLines = [] }
            guard let section else {
                return IniParseError(
                    location: SourceLocation(file: file, line: pendingLine),
                    message: "Section must be started before assignment")
            }
            assignments.append(IniAssignment(
                section: section, key: key, value: pendingLines.joined(separator: "\n"),
                location: SourceLocation(file: file, line: pendingLine)))
            return nil
        }

        var lineNumber = 0
        // Python reads text files with universal newlines: \r\n and \r end lines too.
        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" }) {
            lineNumber += 1
            let line = rstrip(rawLine)
            if line.isEmpty {
                if let error = flush() { return .failure(error) }
                continue
            }
            if line.first == " " || line.first == "\t" {
                guard pendingKey != nil else { return fail(lineNumber, "Unexpected continuation line") }
                pendingLines.append(String(lstrip(line)))
                continue
            }
            if let error = flush() { return .failure(error) }
            if line.first == "[" {
                guard line.last == "]" else { return fail(lineNumber, "Invalid section (must end with ])") }
                guard line.count > 2 else { return fail(lineNumber, "Empty section name") }
                section = String(line.dropFirst().dropLast())
            } else if line.first == "#" || line.first == ";" {
                continue
            } else {
                let colon = line.firstIndex(of: ":")
                let equal = line.firstIndex(of: "=")
                let separator: Substring.Index
                switch (colon, equal) {
                case (nil, nil): return fail(lineNumber, "No ':' or '=' found in assignment")
                case let (c?, e?): separator = min(c, e)
                case let (c?, nil): separator = c
                case let (nil, e?): separator = e
                }
                let key = strip(line[..<separator])
                guard !key.isEmpty else { return fail(lineNumber, "Key cannot be empty") }
                pendingKey = String(key)
                pendingLines = [unquote(strip(line[line.index(after: separator)...]))]
                pendingLine = lineNumber
            }
        }
        if let error = flush() { return .failure(error) }
        return .success(assignments)
    }

    /// oslo strips exactly one pair of matching quotes, and only when the value starts with one.
    static func unquote(_ value: Substring) -> String {
        if let first = value.first, first == value.last, first == "\"" || first == "'" {
            return value.count >= 2 ? String(value.dropFirst().dropLast()) : ""
        }
        return String(value)
    }
}

/// Python's str.strip()/lstrip()/rstrip() without arguments strip all ASCII whitespace.
@inline(__always) func isPythonSpace(_ c: Character) -> Bool {
    c == " " || c == "\t" || c == "\n" || c == "\r" || c == "\u{0B}" || c == "\u{0C}"
}
func strip(_ s: Substring) -> Substring { lstrip(rstrip(s)) }
func lstrip(_ s: Substring) -> Substring { s.drop(while: isPythonSpace) }
func rstrip(_ s: Substring) -> Substring {
    var end = s.endIndex
    while end > s.startIndex, isPythonSpace(s[s.index(before: end)]) { end = s.index(before: end) }
    return s[s.startIndex..<end]
}
func strip(_ s: String) -> String { String(strip(Substring(s))) }
