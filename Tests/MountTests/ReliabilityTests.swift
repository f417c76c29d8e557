import Foundation
import Testing

/// The short versions of every reliability case (scripts/reliability/: faults injected into real
/// backends — nginx, Swift and its proxy, Keystone, Ceph's OSD and monitor, Cinder's API, the vCenter
/// simulator — started by the
/// project's scripts, the daemon killed and stopped with I/O in flight, full stores, load on every
/// store, odd names, secrets), run by the same code as `scripts/reliability.sh` and each of their
/// checks asserted here. One group at a time: they kill daemons and time failures.
@Suite(.serialized) struct ReliabilityTests {
    struct CaseResult: Decodable {
        struct Check: Decodable {
            let check: String
            let ok: Bool
            let seen: String
        }
        let `case`: String
        let ok: Bool
        let figures: [String: Figure]
        let checks: [Check]
    }

    /// A figure is a number or a text ("72/264/248").
    enum Figure: Decodable, CustomStringConvertible {
        case number(Double), text(String)
        init(from decoder: any Decoder) throws {
            let value = try decoder.singleValueContainer()
            if let n = try? value.decode(Double.self) { self = .number(n) } else { self = .text(try value.decode(String.self)) }
        }
        var description: String {
            switch self {
            case .number(let n): String(n)
            case .text(let t): t
            }
        }
    }

    static let harness = repositoryFile("scripts/reliability/main.py")

    /// Runs one group's cases and records every failed check as an issue of its own.
    func run(_ group: String, cases expected: [String], sourceLocation: SourceLocation = #_sourceLocation) throws {
        let r = sh("/usr/bin/python3 \(Self.harness) --binary \(storefsBinary) --short --json \(group)")
        var seen: [String] = []
        for line in r.out.split(separator: "\n") {
            let result = try JSONDecoder().decode(CaseResult.self, from: Data(line.utf8))
            seen.append(result.case)
            #expect(!result.checks.isEmpty, "\(result.case) checked nothing", sourceLocation: sourceLocation)
            for check in result.checks {
                #expect(check.ok, "\(result.case): \(check.check) — seen: \(check.seen)", sourceLocation: sourceLocation)
            }
            print("\(result.case): \(result.figures.map { "\($0.key) \($0.value)" }.sorted().joined(separator: ", "))")
        }
        #expect(seen == expected, "cases run: \(seen); stderr: \(r.err.suffix(1500))", sourceLocation: sourceLocation)
        #expect(r.status == 0 || seen.count == expected.count, "the harness failed: \(r.err.suffix(1500))", sourceLocation: sourceLocation)
    }

    @Test func nginxDiesUnderAReader() throws {
        try run("http", cases: ["read/nginx/refused", "read/nginx/hung"])
    }

    @Test func swiftProxyDiesUnderReadersAndWritersAndTheAccountFills() throws {
        try run("swift", cases: ["read/swift-proxy/refused", "read/swift-proxy/hung", "write/swift-proxy/refused",
                                 "kill-9/swift", "full/swift-account-quota"])
    }

    @Test func keystoneDiesBeforeTheFirstLogin() throws {
        try run("keystone", cases: ["auth/keystone/refused", "auth/keystone/hung"])
    }

    @Test func cephOSDAndMonitorDieAndThePoolFills() throws {
        try run("rbd", cases: ["read/ceph-osd/refused", "read/ceph-osd/hung", "read/ceph-mon/refused", "read/ceph-mon/hung",
                               "write/ceph-osd/refused", "kill-9/rbd", "full/ceph-pool-quota"])
    }

    @Test func cinderAPIDiesAndTheDaemonIsKilledMidWrite() throws {
        try run("cinder", cases: ["api/cinder-api/refused", "api/cinder-api/hung", "kill-9/cinder"])
    }

    @Test func vCenterDiesUnderReadersAndWriters() throws {
        try run("vmware", cases: ["read/vcsim/refused", "read/vcsim/hung", "write/vcsim/refused", "write/vcsim/hung", "kill-9/vmware"])
    }

    @Test func fileStoreKilledMidWriteAndFull() throws {
        try run("file", cases: ["kill-9/file", "full/file-tmpfs"])
    }

    @Test func unmountedWithReadsAndWritesInFlight() throws {
        try run("unmount", cases: ["unmount/in-flight"])
    }

    @Test func loadOnEveryStore() throws {
        try run("load", cases: ["load/all-stores"])
    }

    @Test func oddNamesInEveryStore() throws {
        try run("names", cases: ["names/file", "names/http", "names/swift", "names/rbd"])
    }

    @Test func secretsAppearNowhere() throws {
        try run("secrets", cases: ["secrets/all"])
    }
}
