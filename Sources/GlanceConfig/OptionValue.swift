/// The value forms of oslo.config's types (oslo_config/types.py), parsed exactly as Glance reads them.
public struct OptionValueError: Error, Sendable, Equatable {
    public let message: String
    public static func invalid(_ message: String) -> OptionValueError { OptionValueError(message: message) }
}

/// A DictOpt's value keeps the order of the pairs, which is config order: `/v2/info/stores` lists the
/// stores in that order.
public struct OrderedPairs: Sendable, Equatable {
    public var pairs: [(key: String, value: String)]
    public init(_ pairs: [(key: String, value: String)] = []) { self.pairs = pairs }
    public var keys: [String] { pairs.map(\.key) }
    public subscript(key: String) -> String? { pairs.first { $0.key == key }?.value }
    public var isEmpty: Bool { pairs.isEmpty }
    public static func == (a: OrderedPairs, b: OrderedPairs) -> Bool {
        a.pairs.elementsEqual(b.pairs) { $0.key == $1.key && $0.value == $1.value }
    }
}

public enum OptionParsing {
    /// oslo types.Boolean: case-insensitive true/1/on/yes and false/0/off/no; nothing else.
    public static func bool(_ raw: String) throws(OptionValueError) -> Bool {
        switch raw.lowercased() {
        case "true", "1", "on", "yes": return true
        case "false", "0", "off", "no": return false
        default: throw .invalid("unexpected boolean value '\(raw)' (use true/false, yes/no, on/off, 1/0)")
        }
    }

    /// oslo types.Integer: Python's int() after strip, base 10 (`0644` is 644, `0o644` an error);
    /// empty means unset.
    public static func integer(_ raw: String, min: Int? = nil, max: Int? = nil) throws(OptionValueError) -> Int? {
        let s = strip(raw)
        if s.isEmpty { return nil }
        guard let value = pythonInt(s) else { throw .invalid("'\(s)' is not an integer") }
        if let min, value < min { throw .invalid("should be greater than or equal to \(min), got \(value)") }
        if let max, value > max { throw .invalid("should be less than or equal to \(max), got \(value)") }
        return value
    }

    /// Python int(str): optional sign, decimal digits, single underscores between digits.
    static func pythonInt(_ s: String) -> Int? {
        var body = Substring(s)
        var negative = false
        if let first = body.first, first == "+" || first == "-" {
            negative = first == "-"
            body = body.dropFirst()
        }
        guard let first = body.first, first.isASCII, first.isNumber, body.last != "_",
              !body.contains("__") else { return nil }
        var value = 0
        for c in body where c != "_" {
            guard c.isASCII, let digit = c.wholeNumberValue else { return nil }
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(digit)
            guard !o1, !o2 else { return nil }
            value = a
        }
        return negative ? -value : value
    }

    /// oslo types.List (bounds=False): trailing commas dropped, split on ",", items stripped; quotes
    /// inside are kept as they are.
    public static func list(_ raw: String) -> [String] {
        var s = strip(raw)
        while s.hasSuffix(",") { s.removeLast() }
        if s.isEmpty { return [] }
        return s.split(separator: ",", omittingEmptySubsequences: false).map { String(strip($0)) }
    }

    /// oslo types.Dict: `key:value` pairs separated by ",", split on the first ":". A piece without a
    /// ":" is glued to the next piece (so `a:file, b, c:http` gives `b, c` -> `http`); callers that want
    /// to refuse that (enabled_backends) check `gluedPieces`.
    public static func dict(_ raw: String) throws(OptionValueError) -> (value: OrderedPairs, gluedPieces: [String]) {
        let s = strip(raw)
        if s.isEmpty { return (OrderedPairs(), []) }
        var pairs: [(key: String, value: String)] = []
        var glued: [String] = []
        var pending: String?
        for piece in s.split(separator: ",", omittingEmptySubsequences: false).map(String.init) {
            let current = pending.map { "\($0),\(piece)" } ?? piece
            guard let colon = current.firstIndex(of: ":") else {
                if pending == nil { glued.append(String(strip(Substring(piece)))) }
                pending = current
                continue
            }
            pending = nil
            let key = strip(String(current[..<colon]))
            let value = strip(String(current[current.index(after: colon)...]))
            if key.isEmpty { throw .invalid("Key name should not be empty") }
            if pairs.contains(where: { $0.key == key }) { throw .invalid("Duplicate key \(key)") }
            pairs.append((key, value))
        }
        if pending != nil { throw .invalid("Value should be NAME:VALUE pairs separated by \",\"") }
        return (OrderedPairs(pairs), glued)
    }

    /// oslo types.Port: an integer 0..65535.
    public static func port(_ raw: String) throws(OptionValueError) -> Int? {
        try integer(raw, min: 0, max: 65535)
    }

    /// oslo types.HostAddress: an IPv4/IPv6 address or a hostname (RFC 1123 labels).
    public static func hostAddress(_ raw: String) throws(OptionValueError) -> String {
        let s = strip(raw)
        if isIPv4(s) || (s.contains(":") && s.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." })) { return s }
        let labels = s.hasSuffix(".") ? s.dropLast().split(separator: ".", omittingEmptySubsequences: false)
                                      : s.split(separator: ".", omittingEmptySubsequences: false)
        let valid = !s.isEmpty && s.count <= 253 && labels.allSatisfy { label in
            !label.isEmpty && label.count <= 63 && label.first != "-" && label.last != "-"
                && label.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }
        } && !(labels.last?.allSatisfy(\.isNumber) ?? true)
        guard valid else { throw .invalid("'\(s)' is not a valid host address") }
        return s
    }

    /// A host address, optionally with `:port` (an IPv6 address with a port in brackets: `[::1]:443`).
    public static func hostAndPort(_ raw: String) throws(OptionValueError) -> String {
        let s = strip(raw)
        if s.hasPrefix("["), let close = s.firstIndex(of: "]") {
            let address = String(s[s.index(after: s.startIndex)..<close]), rest = s[s.index(after: close)...]
            _ = try hostAddress(address)
            if rest.isEmpty { return s }
            guard rest.hasPrefix(":"), let port = Int(rest.dropFirst()), (1...65535).contains(port) else {
                throw .invalid("'\(s)' is not a host address or host:port")
            }
            return s
        }
        if let colon = s.lastIndex(of: ":"), s.filter({ $0 == ":" }).count == 1 {
            let port = s[s.index(after: colon)...]
            guard let number = Int(port), (1...65535).contains(number) else {
                throw .invalid("'\(s)': '\(port)' is not a port (1-65535)")
            }
            _ = try hostAddress(String(s[..<colon]))
            return s
        }
        return try hostAddress(s)
    }

    static func isIPv4(_ s: String) -> Bool {
        let parts = s.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts.allSatisfy { p in
            !p.isEmpty && p.count <= 3 && p.allSatisfy(\.isNumber) && (Int(p) ?? 256) <= 255
        }
    }
}
