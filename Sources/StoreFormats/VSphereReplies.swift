import Foundation

/// A vSphere managed object reference (`<obj type="Datastore">datastore-12</obj>`).
public struct ManagedObject: Sendable, Hashable, CustomStringConvertible {
    public let type: String
    public let value: String

    public init(type: String, value: String) {
        self.type = type
        self.value = value
    }

    public init?(_ node: XMLNode?) {
        guard let node, let type = node.attributes["type"] ?? node.type else { return nil }
        let value = node.text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !value.isEmpty else { return nil }
        self.init(type: type, value: value)
    }

    /// As an argument of a call: `<element type="T">value</element>`.
    public func xml(_ element: String) -> String {
        "<\(element) type=\"\(XMLText.escape(type))\">\(XMLText.escape(value))</\(element)>"
    }

    public var description: String { "\(type):\(value)" }
}

/// What vSphere said instead of an answer: the fault's type (`FileNotFound`, `NotAuthenticated`...)
/// and its message.
public struct VSphereFault: Error, Sendable, Equatable, CustomStringConvertible {
    public let type: String
    public let message: String

    public init(type: String, message: String) {
        self.type = type
        self.message = message
    }

    public var description: String { message.isEmpty ? type : "\(type): \(message)" }
}

/// The SOAP envelope of an answer.
public enum SOAPEnvelope {
    /// The body's element (the method's response), or the fault it holds; nil when the bytes are
    /// not a SOAP envelope.
    public static func parse(_ bytes: [UInt8]) -> Result<XMLNode, VSphereFault>? {
        guard let root = XMLTree.parse(bytes), root.name == "Envelope", let body = root.child("Body") else { return nil }
        guard let element = body.children.first else { return nil }
        guard element.name == "Fault" else { return .success(element) }
        let detail = element.child("detail")?.children.first
        var type = detail?.type ?? detail?.name ?? "Fault"
        if detail?.type == nil, type.hasSuffix("Fault"), type != "Fault" { type = String(type.dropLast(5)) }
        return .failure(VSphereFault(type: type, message: element.value("faultstring") ?? ""))
    }
}

/// A task's `info`: where it is, and its result or fault once over.
public struct TaskInfo: Sendable, Equatable {
    /// queued, running, success or error.
    public let state: String
    public let fault: VSphereFault?
    public let result: XMLNode?

    public init?(_ node: XMLNode?) {
        guard let node, let state = node.value("state") else { return nil }
        self.state = state
        result = node.child("result")
        if let error = node.child("error") {
            let detail = error.child("fault")
            fault = VSphereFault(type: detail?.type ?? detail?.name ?? "Fault", message: error.value("localizedMessage") ?? "")
        } else {
            fault = nil
        }
    }

    public var isOver: Bool { state == "success" || state == "error" }
}

/// One entry of a datastore browser's search result (`HostDatastoreBrowserSearchResults.file`).
public struct DatastoreFile: Sendable, Equatable {
    public let path: String
    public let size: UInt64
    public let modification: Timestamp?
    public let isFolder: Bool

    public init(path: String, size: UInt64, modification: Timestamp?, isFolder: Bool) {
        self.path = path
        self.size = size
        self.modification = modification
        self.isFolder = isFolder
    }

    /// The files of a search result (one folder's).
    public static func list(_ results: XMLNode?) -> [DatastoreFile] {
        guard let results else { return [] }
        return results.all("file").compactMap { file in
            guard let path = file.value("path"), !path.isEmpty else { return nil }
            return DatastoreFile(path: path, size: file.value("fileSize").flatMap { UInt64($0) } ?? 0,
                                 modification: file.value("modification").flatMap(XSDDateTime.parse),
                                 isFolder: file.type == "FolderFileInfo")
        }
    }
}

/// xsd:dateTime as vSphere writes it: `2026-12-02T15:53:57.123456Z`, or with `+hh:mm` / `-hh:mm`.
public enum XSDDateTime {
    public static func parse(_ text: String) -> Timestamp? {
        let s = Array(text.utf8)
        func number(_ from: Int, _ count: Int) -> Int? {
            guard from + count <= s.count else { return nil }
            var n = 0
            for byte in s[from..<from + count] {
                guard byte >= 48 && byte <= 57 else { return nil }
                n = n * 10 + Int(byte - 48)
            }
            return n
        }
        guard s.count >= 19, s[4] == 45, s[7] == 45, s[10] == 84, s[13] == 58, s[16] == 58,
              let year = number(0, 4), let month = number(5, 2), let day = number(8, 2),
              let hour = number(11, 2), let minute = number(14, 2), let second = number(17, 2),
              (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61 else { return nil }
        var index = 19
        var nanoseconds = 0
        if index < s.count, s[index] == 46 {
            index += 1
            var digits = 0
            while index < s.count, s[index] >= 48, s[index] <= 57 {
                if digits < 9 { nanoseconds = nanoseconds * 10 + Int(s[index] - 48); digits += 1 }
                index += 1
            }
            guard digits > 0 else { return nil }
            for _ in digits..<9 { nanoseconds *= 10 }
        }
        var offset = 0
        if index < s.count {
            if s[index] == 90 {
                index += 1
            } else if s[index] == 43 || s[index] == 45, let h = number(index + 1, 2), s.count > index + 3, s[index + 3] == 58,
                      let m = number(index + 4, 2) {
                offset = (h * 60 + m) * 60 * (s[index] == 45 ? -1 : 1)
                index += 6
            } else {
                return nil
            }
        }
        guard index == s.count else { return nil }
        // Days since 1970-01-01 (civil from days, proleptic Gregorian).
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        let seconds = Int64(days) * 86_400 + Int64(hour * 3600 + minute * 60 + second - offset)
        return Timestamp(seconds: seconds, nanoseconds: Int32(nanoseconds))
    }
}

/// Text and attribute values written into a SOAP request.
public enum XMLText {
    public static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
