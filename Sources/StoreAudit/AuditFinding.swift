import Foundation
import GlanceStore

/// One inconsistency between a store and Glance's catalogue, with the facts that prove it.
public struct AuditFinding: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        /// Data with no Glance location in that store.
        case orphan
        /// A Glance location with no data behind it (Glance keeps the image active and serves 0 bytes).
        case missing
        case sizeMismatch = "size-mismatch"
        /// `--verify`: the store's bytes hash to something else than Glance recorded.
        case checksumMismatch = "checksum-mismatch"
        /// Temporary or partial data of a writer (Glance's or ours), or a stale import marker.
        case leftover
    }

    public enum Value: Sendable, Equatable, CustomStringConvertible {
        case text(String)
        case number(UInt64)
        public var description: String {
            switch self { case .text(let text): text; case .number(let n): String(n) }
        }
    }

    public let store: String
    /// The image id, or the backend's name when the data names no image.
    public let image: String
    public let kind: Kind
    /// In the order they are printed.
    public let evidence: [(key: String, value: Value)]

    public init(store: String, image: String, kind: Kind, evidence: [(String, Value)]) {
        self.store = store
        self.image = image
        self.kind = kind
        self.evidence = evidence.map { (key: $0.0, value: $0.1) }
    }

    public subscript(key: String) -> Value? { evidence.first { $0.key == key }?.value }

    public static func == (a: AuditFinding, b: AuditFinding) -> Bool {
        a.store == b.store && a.image == b.image && a.kind == b.kind
            && a.evidence.map(\.key) == b.evidence.map(\.key) && a.evidence.map(\.value) == b.evidence.map(\.value)
    }

    /// One JSON object on one line: `store`, `image`, `finding`, then the evidence.
    public var jsonLine: String {
        var object: [String: Any] = ["store": store, "image": image, "finding": kind.rawValue]
        for (key, value) in evidence {
            switch value {
            case .text(let text): object[key] = text
            case .number(let n): object[key] = n
            }
        }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    /// `key=value` pairs for the human table (values with spaces quoted).
    public var evidenceText: String {
        evidence.map { key, value in
            let text = value.description
            return text.contains(" ") || text.isEmpty ? "\(key)=\"\(text)\"" : "\(key)=\(text)"
        }.joined(separator: " ")
    }
}

/// What an audit found, and what kept it from looking everywhere.
public struct AuditReport: Sendable {
    public var findings: [AuditFinding] = []
    /// One line per store or check that could not be done (the audit is then incomplete: exit 2).
    public var problems: [String] = []
    /// Facts for the summary: images in the catalogue, stores looked at, images verified...
    public var catalogueImages = 0
    public var storesAudited: [String] = []
    public var imagesVerified = 0
    /// Said once when Glance shows no locations (`show_multiple_locations`, `show_image_direct_url` off).
    public var notes: [String] = []

    /// 0 clean, 1 findings, 2 unable to audit (all or part).
    public var exitStatus: Int32 { !problems.isEmpty ? 2 : findings.isEmpty ? 0 : 1 }

    public func table() -> String {
        var lines: [String] = []
        if !findings.isEmpty {
            let header = ["STORE", "IMAGE", "FINDING", "EVIDENCE"]
            let rows = findings.map { [$0.store, $0.image, $0.kind.rawValue, $0.evidenceText] }
            let widths = (0..<3).map { column in (rows + [header]).map { $0[column].count }.max() ?? 0 }
            for row in [header] + rows {
                lines.append((0..<3).map { row[$0].padding(toLength: widths[$0], withPad: " ", startingAt: 0) }.joined(separator: "  ")
                             + "  " + row[3])
            }
        }
        lines += notes.map { "note: \($0)" }
        lines += problems.map { "error: \($0)" }
        lines.append(summary)
        return lines.joined(separator: "\n") + "\n"
    }

    public var summary: String {
        let counts = AuditFinding.Kind.allCases.compactMap { kind -> String? in
            let n = findings.filter { $0.kind == kind }.count
            return n == 0 ? nil : "\(n) \(kind.rawValue)"
        }
        let what = findings.isEmpty ? "no findings" : "\(findings.count) finding\(findings.count == 1 ? "" : "s") (\(counts.joined(separator: ", ")))"
        var line = "\(what) in \(storesAudited.count) store\(storesAudited.count == 1 ? "" : "s") (\(storesAudited.joined(separator: ", "))) against \(catalogueImages) images in Glance's catalogue"
        if imagesVerified > 0 { line += "; \(imagesVerified) copies verified" }
        if !problems.isEmpty { line += "; incomplete: \(problems.count) problem\(problems.count == 1 ? "" : "s")" }
        return line
    }
}

/// Locations can carry credentials (s3://key:secret@host/..., old swift URLs): never shown.
enum Redact {
    static func location(_ url: String) -> String {
        guard let scheme = url.range(of: "://"), let at = url[scheme.upperBound...].firstIndex(of: "@") else { return url }
        let authority = url[scheme.upperBound..<at]
        guard !authority.contains("/") else { return url }
        return String(url[..<scheme.upperBound]) + "***@" + String(url[url.index(after: at)...])
    }
}
