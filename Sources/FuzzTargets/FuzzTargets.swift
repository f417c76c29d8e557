import Foundation
import GlanceConfig
import StoreFormats

/// The parsers of untrusted input, each with what must hold whatever the input: no crash, no hang
/// (the fuzzer's timeout), and the promises the rest of the program relies on. The fuzzer
/// (`storefs-fuzz`, built by scripts/fuzz.sh with libFuzzer) traps on a broken promise; the test
/// suite replays the corpus (Tests/Fuzz/corpus) through the same checks.
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// glance-api.conf: oslo's INI syntax, then the typed options and every validation rule.
    case config
    /// A `swift_store_config_file`: Python configparser's reading of it.
    case swiftReferences = "swift-references"
    /// An http store's index page: nginx's JSON autoindex, or the HTML of any server's.
    case indexPage = "index-page"
    /// A Swift container listing (JSON), as the swift store reads it.
    case swiftListing = "swift-listing"
    /// A vSphere SOAP answer (XML): faults, task infos, datastore browser results, dates.
    case vsphereAnswer = "vsphere-answer"

    /// What broke: empty when every promise held.
    public func check(_ data: [UInt8]) -> [String] {
        switch self {
        case .config: Self.checkConfig(data)
        case .swiftReferences: Self.checkReferences(data)
        case .indexPage: Self.checkIndexPage(data)
        case .swiftListing: Self.checkListing(data)
        case .vsphereAnswer: Self.checkVSphereAnswer(data)
        }
    }

    static let file = "/fuzz/glance-api.conf"

    /// Every rejection is one line that names the file.
    static func checkConfig(_ data: [UInt8]) -> [String] {
        let text = String(decoding: data, as: UTF8.self)
        switch IniParser.parse(text, file: file) {
        case .failure(let error):
            return oneLine(error.description, "a syntax error")
        case .success(let assignments):
            let source = ConfigSource(assignments: assignments, files: [file])
            switch GlanceConfiguration.validate(source) {
            case .success(let configuration):
                return configuration.warnings.flatMap { oneLine($0.description, "a warning") }
            case .failure(let failure):
                guard !failure.errors.isEmpty else { return ["a rejected configuration without an error"] }
                return failure.diagnostics.flatMap { oneLine($0.description, "a diagnostic") }
            }
        }
    }

    static func checkReferences(_ data: [UInt8]) -> [String] {
        switch SwiftStoreSettings.parseReferences(String(decoding: data, as: UTF8.self), file: "/fuzz/glance-swift.conf") {
        case .failure(let error): return oneLine(error.message, "a reference file error")
        case .success(let references):
            // [DEFAULT] is inherited, never a reference of its own; keys are lower-cased.
            var problems: [String] = []
            if references["DEFAULT"] != nil { problems.append("[DEFAULT] taken as a reference") }
            for (name, reference) in references where reference.values.keys.contains(where: { $0 != $0.lowercased() }) {
                problems.append("reference \(name) kept a key's case")
            }
            return problems
        }
    }

    static let page = "http://127.0.0.1:8080/images/"

    /// Every entry a valid image name, below the index page, once.
    static func checkIndexPage(_ data: [UInt8]) -> [String] {
        var problems: [String] = []
        for contentType in ["application/json", "text/html", nil] {
            let (entries, _) = IndexPage.entries(data, contentType: contentType, pageURL: page)
            var seen = Set<String>()
            for entry in entries {
                if let problem = ImageName.problem(entry.name) { problems.append("entry '\(entry.name)': \(problem)") }
                if !entry.url.hasPrefix(page) { problems.append("entry '\(entry.name)' outside the index: \(entry.url)") }
                if !seen.insert(entry.name).inserted { problems.append("entry '\(entry.name)' twice") }
            }
        }
        return problems
    }

    /// Sizes add up: an image's size is its own or its segments', never more than the listing holds.
    static func checkListing(_ data: [UInt8]) -> [String] {
        guard let entries = try? JSONDecoder().decode([SwiftListing.Entry].self, from: Data(data)) else { return [] }
        func saturating(_ a: UInt64, _ b: UInt64) -> UInt64 { let (s, o) = a.addingReportingOverflow(b); return o ? .max : s }
        let total = entries.reduce(UInt64(0)) { saturating($0, $1.bytes ?? 0) }
        var problems: [String] = []
        let images = SwiftListing.images(entries)
        if images.count > entries.count { problems.append("more images than entries") }
        if total < .max, images.reduce(UInt64(0), { saturating($0, $1.size) }) > total { problems.append("images larger than the listing") }
        for series in SwiftListing.orphanSeries(entries) where series.segments.isEmpty {
            problems.append("a series without segments: \(series.base)")
        }
        for entry in entries { _ = SwiftListing.mtime(contentType: entry.content_type) }
        return problems
    }

    /// A fault always has a type; every file found has a path; every time read is a valid instant.
    static func checkVSphereAnswer(_ data: [UInt8]) -> [String] {
        guard let answer = SOAPEnvelope.parse(data) else { return [] }
        switch answer {
        case .failure(let fault):
            return fault.type.isEmpty ? ["a fault without a type"] : []
        case .success(let body):
            var problems: [String] = []
            var stack = [body]
            while let node = stack.popLast() {
                stack += node.children
                if node.name == "val" || node.name == "info", let info = TaskInfo(node) {
                    if info.state == "error", info.fault == nil { problems.append("a failed task without a fault") }
                    for file in DatastoreFile.list(info.result) where file.path.isEmpty { problems.append("a file without a path") }
                }
                if let time = XSDDateTime.parse(node.text.trimmingCharacters(in: .whitespacesAndNewlines)),
                   !(0..<1_000_000_000).contains(time.nanoseconds) {
                    problems.append("a time of \(time.nanoseconds) ns")
                }
            }
            return problems
        }
    }

    static func oneLine(_ text: String, _ what: String) -> [String] {
        text.contains(where: { $0.isNewline }) ? ["\(what) spans lines: \(text.debugDescription)"] : []
    }
}
