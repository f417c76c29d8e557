import Foundation
import Testing

/// The Glance `scripts/test.sh` started (STOREFS_TEST_GLANCE_DIR, by `scripts/test-glance.sh`): its
/// glance-api.conf is what the mount and `audit` read, unchanged.
struct TestGlance {
    let dir: String
    let config: String
    let port: String
    let cephConf: String?
    let hasSwift: Bool

    init() throws {
        let dir = try #require(ProcessInfo.processInfo.environment["STOREFS_TEST_GLANCE_DIR"].flatMap { $0.isEmpty ? nil : $0 },
                               "STOREFS_TEST_GLANCE_DIR is not set: run scripts/test.sh (it starts Glance)")
        self.dir = dir
        config = dir + "/glance-api.conf"
        port = ((try? String(contentsOfFile: dir + "/port", encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        try #require(!port.isEmpty, "Glance did not start (see \(dir)/log)")
        let text = (try? String(contentsOfFile: config, encoding: .utf8)) ?? ""
        hasSwift = text.contains("obj:swift")
        cephConf = text.split(separator: "\n").first { $0.hasPrefix("rbd_store_ceph_conf = ") }
            .map { String($0.dropFirst("rbd_store_ceph_conf = ".count)) }
    }

    func datadir(_ store: String) -> String { "\(dir)/stores/\(store)" }
}

/// One finding as `audit --json` prints it.
private struct Finding: Hashable, CustomStringConvertible {
    let store: String, image: String, kind: String
    var description: String { "\(store) \(image) \(kind)" }
}

private func findings(_ jsonLines: String) throws -> [(Finding, [String: Any])] {
    try jsonLines.split(separator: "\n").map { line in
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not JSON: \(line)")
        return (Finding(store: object["store"] as? String ?? "", image: object["image"] as? String ?? "",
                        kind: object["finding"] as? String ?? ""), object)
    }
}

extension MountSuite {
    /// Glance's catalogue in the mount and `glance-storefs audit`, against a real Glance in which the
    /// test plants, through Glance's API and behind its back, every inconsistency the audit knows.
    @Suite(.serialized) struct GlanceCatalogueTests {
        @Test func auditFindsExactlyWhatWasPlantedAndTheMountShowsGlancesRecord() throws {
            let glance = try TestGlance()
            let plant = sh("/usr/bin/python3 \(repositoryFile("Tests/Interop/glance_plant.py")) \(glance.dir)"
                           + (glance.cephConf.map { " --with-rbd \($0)" } ?? ""))
            try #require(plant.status == 0, "planting failed: \(plant.err)")
            let planted = try #require(try JSONSerialization.jsonObject(with: Data(plant.out.utf8)) as? [String: Any])
            func id(_ key: String) throws -> String { try #require(planted[key] as? String, "\(key) not planted") }
            let lost = try id("missing"), corrupted = try id("corrupted"), grown = try id("grown"), hidden = try id("hidden")
            let unregistered = try id("unregistered"), failedCopy = try id("failed_copy"), staleMarker = try id("stale_marker")
            let partial = try id("partial")
            let swiftImage = planted["swift"] as? String, segments = planted["segments"] as? String
            #expect((swiftImage != nil) == glance.hasSwift, "the swift store's images were not planted")
            let images = try #require(planted["images"] as? [String: [String: Any]])

            var expected: Set<Finding> = [
                Finding(store: "fast", image: unregistered, kind: "orphan"),
                Finding(store: "fast", image: staleMarker, kind: "missing"),
                Finding(store: "fast", image: grown, kind: "size-mismatch"),
                Finding(store: "fast", image: partial, kind: "leftover"),
                Finding(store: "slow", image: failedCopy, kind: "orphan"),
                Finding(store: "slow", image: lost, kind: "missing"),
                Finding(store: "slow", image: staleMarker, kind: "leftover"),
                Finding(store: "os_glance_staging_store", image: failedCopy, kind: "leftover"),
            ]
            if let segments { expected.insert(Finding(store: "obj", image: segments, kind: "leftover")) }
            let audit = "\(storefsBinary) audit --config-file \(glance.config)"

            // JSON, without reading the data: exactly the planted findings, each with its evidence.
            let json = sh(audit + " --json")
            #expect(json.status == 1, "\(json.err)")
            let found = try findings(json.out)
            #expect(Set(found.map(\.0)) == expected)
            #expect(found.count == expected.count)
            let evidence = Dictionary(found.map { ($0.0, $0.1) }, uniquingKeysWith: { a, _ in a })
            let grownEvidence = try #require(evidence[Finding(store: "fast", image: grown, kind: "size-mismatch")])
            #expect(grownEvidence["store_size"] as? Int == 300_010)
            #expect(grownEvidence["glance_size"] as? Int == 300_000)
            let lostEvidence = try #require(evidence[Finding(store: "slow", image: lost, kind: "missing")])
            let lostLocations = (images[lost]?["locations"] as? [[String: Any]]) ?? []
            #expect(lostEvidence["location"] as? String == lostLocations.first { ($0["metadata"] as? [String: Any])?["store"] as? String == "slow" }?["url"] as? String)
            #expect(evidence[Finding(store: "fast", image: unregistered, kind: "orphan")]?["glance_status"] as? String == "unknown")
            #expect(evidence[Finding(store: "slow", image: failedCopy, kind: "orphan")]?["glance_stores"] as? String == "fast")
            #expect(evidence[Finding(store: "slow", image: staleMarker, kind: "leftover")]?["marker"] as? String == "slow")
            #expect(json.err.contains("\(expected.count) findings"))
            if let segments {
                let evidence = try #require(evidence[Finding(store: "obj", image: segments, kind: "leftover")])
                #expect(evidence["what"] as? String == "2 segments without a manifest")
                #expect(evidence["size"] as? Int == 2000)
            }

            // The table: a header, one row per finding, the summary; the same status.
            let table = sh(audit)
            #expect(table.status == 1)
            let rows = table.out.split(separator: "\n").map(String.init)
            #expect(rows.first?.hasPrefix("STORE") == true)
            #expect(rows.count == expected.count + 2, "\(table.out)")
            for finding in expected {
                #expect(rows.contains { $0.split(separator: " ", omittingEmptySubsequences: true).prefix(3).map(String.init) == [finding.store, finding.image, finding.kind] },
                        "no row for \(finding)")
            }

            // --verify: every copy read back through the drivers; the two corrupted ones are found, with
            // Glance's digests and those of the bytes (md5sum's).
            let verified = sh(audit + " --verify --json")
            #expect(verified.status == 1)
            let withDigests = try findings(verified.out)
            let mismatches: Set<Finding> = [Finding(store: "slow", image: corrupted, kind: "checksum-mismatch"),
                                            Finding(store: "fast", image: failedCopy, kind: "checksum-mismatch")]
            #expect(Set(withDigests.map(\.0)) == expected.union(mismatches))
            let corruptedEvidence = try #require(withDigests.first { $0.0 == Finding(store: "slow", image: corrupted, kind: "checksum-mismatch") }?.1)
            let md5 = sh("md5sum \(glance.datadir("slow"))/\(corrupted)").out.split(separator: " ").first.map(String.init)
            #expect(corruptedEvidence["store_checksum"] as? String == md5)
            #expect(corruptedEvidence["glance_checksum"] as? String == images[corrupted]?["checksum"] as? String)
            #expect(corruptedEvidence["glance_os_hash_value"] as? String == images[corrupted]?["os_hash_value"] as? String)
            #expect(!verified.err.contains("\u{1B}[K") && !verified.err.contains("\r"), "a progress line went to a pipe")
            // On a terminal (script(1) gives it one), the progress line: copies, bytes, rate.
            let onTerminal = sh("script -qec '\(audit) --verify --json' /dev/null")
            #expect(onTerminal.out.range(of: #"verified (\d+)/\1 copies, .* \(100%\)"#, options: .regularExpression) != nil, "\(onTerminal.out)")

            // One store only.
            let slowOnly = try findings(sh(audit + " --json --store slow").out)
            #expect(Set(slowOnly.map(\.0)) == expected.filter { $0.store == "slow" })
            #expect(sh(audit + " --store nosuch").status == 2)

            // Glance's URL given instead of Keystone's catalogue: the same answer.
            let direct = sh(audit + " --json --glance-url http://127.0.0.1:\(glance.port)")
            #expect(Set(try findings(direct.out).map(\.0)) == expected)

            // The mount: Glance's record of each image under user.glance.image.*, an unknown image says so.
            let mountpoint = sh("mktemp -d /tmp/storefs-glance-mnt.XXXXXX").out.trimmingCharacters(in: .whitespacesAndNewlines)
            let log = mountpoint + ".log"
            let process = try #require(Child([storefsBinary, "mount", "--config-file", glance.config, mountpoint, "-f"], output: log))
            defer {
                if isMounted(mountpoint) { sh("fusermount3 -u \(mountpoint) || fusermount3 -uz \(mountpoint)") }
                if !waitUntil(seconds: 10, { !process.isRunning }) { kill(process.pid, SIGKILL) }
                process.wait()
                sh("rmdir \(mountpoint); rm -f \(log).out \(log).err")
            }
            try #require(waitUntil(seconds: 15) { isMounted(mountpoint) || !process.isRunning } && isMounted(mountpoint))
            // The catalogue is fetched as the mount starts; a loaded machine may take a while.
            #expect(waitUntil(seconds: 120) {
                sh("getfattr --only-values -n user.glance.image.status \(mountpoint)/fast/\(lost)").out == "active"
            })
            let keys = ["name", "status", "size", "checksum", "os_hash_algo", "os_hash_value", "disk_format",
                        "container_format", "owner", "visibility", "stores"]
            for (store, image) in [("fast", lost), ("slow", corrupted), ("fast", grown), ("fast", hidden), ("slow", hidden)]
                    + (swiftImage.map { [("obj", $0), ("slow", $0)] } ?? []) {
                let record = try #require(images[image])
                let shown = xattrs(sh("getfattr -d --absolute-names \(mountpoint)/\(store)/\(image)").out)
                for key in keys {
                    let value = record[key].flatMap { $0 is NSNull ? nil : "\($0)" }
                    #expect(shown["user.glance.image." + key] == value, "\(store)/\(image) \(key)")
                }
                #expect(shown["user.glance.store"] == store)
            }
            let unknown = xattrs(sh("getfattr -d --absolute-names \(mountpoint)/fast/\(unregistered)").out)
            #expect(unknown["user.glance.image.status"] == "unknown")
            #expect(unknown.keys.filter { $0.hasPrefix("user.glance.image.") }.count == 1)
            #expect(sh("getfattr --only-values -n user.glance.image.name \(mountpoint)/slow/\(hidden)").out == "d-hidden")
        }

        /// Glance unreachable: the mount works without the catalogue's attributes (and says why, once);
        /// `audit` cannot compare anything and exits 2 with one line.
        @Test func glanceDownLeavesTheMountWorkingAndTheAuditUnable() throws {
            let glance = try TestGlance()
            let closed = sh("/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind((\"127.0.0.1\",0)); print(s.getsockname()[1])'").out
                .trimmingCharacters(in: .whitespacesAndNewlines)
            let demo = Demo(extra: """

                [keystone_authtoken]
                auth_url = http://127.0.0.1:\(closed)
                username = glance-service
                password = glance-service-pw
                project_name = service

                """)
            sh("head -c 100000 /dev/urandom > \(demo.datadir("fast"))/11111111-2222-3333-4444-555555555555")
            let audit = sh("\(storefsBinary) audit --config-file \(demo.config)")
            #expect(audit.status == 2)
            #expect(audit.out.isEmpty)
            #expect(audit.err.split(separator: "\n").count == 1, "\(audit.err)")
            #expect(audit.err.contains("cannot read Glance's catalogue"))
            #expect(!audit.err.contains("glance-service-pw"))

            try demo.mount()
            let file = demo.path("fast", "11111111-2222-3333-4444-555555555555")
            #expect(sh("cmp \(file) \(demo.datadir("fast"))/11111111-2222-3333-4444-555555555555").status == 0)
            let shown = xattrs(sh("getfattr -d --absolute-names \(file)").out)
            #expect(shown["user.glance.store"] == "fast")
            #expect(!shown.keys.contains { $0.hasPrefix("user.glance.image.") })
            _ = sh("getfattr -d --absolute-names \(file)")
            demo.unmount()
            let said = demo.log.split(separator: "\n").filter { $0.contains("Glance's catalogue cannot be read") }
            #expect(said.count == 1, "\(demo.log)")
            #expect(!demo.log.contains("glance-service-pw"))
        }
    }
}

/// `getfattr -d` output as name → value.
private func xattrs(_ text: String) -> [String: String] {
    var values: [String: String] = [:]
    for line in text.split(separator: "\n") where !line.hasPrefix("#") {
        guard let eq = line.firstIndex(of: "=") else { continue }
        var value = String(line[line.index(after: eq)...])
        if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 { value = String(value.dropFirst().dropLast()) }
        values[String(line[..<eq])] = value
    }
    return values
}
