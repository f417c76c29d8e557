import Foundation
import Testing
@testable import FuzzTargets
import GlanceConfig
import StoreFormats

/// Every input of the fuzzers' corpus (Tests/FuzzCorpusTests/corpus/<target>/: the seeds, and what
/// the fuzzer found worth keeping, crashes it fixed included) replayed through the same checks
/// the fuzzer runs: no crash, no broken promise, and quick.
@Suite struct CorpusReplayTests {
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("corpus")

    @Test(arguments: FuzzTarget.allCases)
    func corpusHolds(_ target: FuzzTarget) throws {
        let dir = Self.corpus.appendingPathComponent(target.rawValue)
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
        #expect(files.count >= 3, "a corpus of \(files.count) inputs for \(target.rawValue)")
        var slowest = (name: "", seconds: 0.0)
        for name in files {
            let data = try Data(contentsOf: dir.appendingPathComponent(name))
            let start = Date()
            let problems = target.check(Array(data))
            let seconds = Date().timeIntervalSince(start)
            if seconds > slowest.seconds { slowest = (name, seconds) }
            #expect(problems.isEmpty, "\(target.rawValue)/\(name): \(problems)")
        }
        // libFuzzer's -timeout in scripts/fuzz.sh is 5 s; a debug build is slower, not 5 s slower.
        #expect(slowest.seconds < 2, "\(target.rawValue)/\(slowest.name) took \(slowest.seconds) s")
    }

    /// The checks are not blind: what they guard against is seen.
    @Test func checksSeeWhatTheyGuardAgainst() {
        #expect(!FuzzTarget.oneLine("a\nb", "x").isEmpty)
        #expect(FuzzTarget.oneLine("a b", "x").isEmpty)
        // A JSON index entry '../x' made into a URL would name a file outside the index: left out.
        let (entries, skipped) = IndexPage.entries(Array(#"[{"name":"../x","type":"file"},{"name":"ok","type":"file"}]"#.utf8),
                                                   contentType: "application/json", pageURL: FuzzTarget.page)
        #expect(entries.map(\.name) == ["ok"] && skipped == ["../x"])
    }

    /// A value spanning lines (an INI continuation) is quoted in the one line of its error.
    @Test func multiLineValuesAreQuotedOnOneLine() throws {
        let text = "[DEFAULT]\nenabled_backends = a:file\n[glance_store]\ndefault_backend = a\n[a]\nfilesystem_store_datadir = /x\nfilesystem_store_file_perm = 7\n  8\n"
        let assignments = try IniParser.parse(text, file: "/f.conf").get()
        guard case .failure(let failure) = GlanceConfiguration.validate(ConfigSource(assignments: assignments, files: ["/f.conf"])) else {
            Issue.record("a file permission of two lines was accepted")
            return
        }
        let line = try #require(failure.errors.first { $0.option == "filesystem_store_file_perm" }).description
        #expect(!line.contains("\n") && line.contains("7\\n8"), "\(line)")
        #expect(FuzzTarget.config.check(Array(text.utf8)).isEmpty)
    }
}
