import Foundation
@testable import GlanceStore
import StoreFormats
import Testing
@testable import StoreAudit

/// The audit's rules on made-up catalogues and holdings: each finding, and what must not be one.
@Suite struct AuditRulesTests {
    static let now = Timestamp(seconds: 1_800_000_000, nanoseconds: 0)
    static let old = Timestamp(seconds: 1_700_000_000, nanoseconds: 0)
    static let recent = Timestamp(seconds: 1_800_000_000 - 60, nanoseconds: 0)

    func info(_ name: String, _ size: UInt64, _ time: Timestamp = old) -> ImageInfo {
        ImageInfo(name: name, size: size, modificationTime: time)
    }

    func image(_ id: String, stores: [String], size: UInt64? = 10, status: String = "active",
               locations: Bool = true, importing: [String] = []) -> CatalogueImage {
        CatalogueImage(id: id, status: status, size: size, checksum: "c-\(id)", osHashAlgo: "sha512", osHashValue: "h-\(id)",
                       stores: stores,
                       locations: locations ? stores.map { .init("file:///d/\($0)/\(id)", store: $0) } : nil,
                       importingToStores: importing)
    }

    func kinds(_ findings: [AuditFinding]) -> [String] { findings.map { "\($0.store) \($0.image) \($0.kind.rawValue)" } }

    @Test func aConsistentStoreHasNoFinding() {
        let rules = AuditRules(catalogue: [image("a", stores: ["fast", "slow"]), image("b", stores: ["slow"])], activeImports: [], now: Self.now)
        #expect(rules.findings(for: StoreHoldings(store: "fast", images: [info("a", 10)], leftovers: [])).isEmpty)
        #expect(rules.findings(for: StoreHoldings(store: "slow", images: [info("a", 10), info("b", 10)], leftovers: [])).isEmpty)
    }

    @Test func orphanMissingAndSizeMismatchWithTheirEvidence() {
        let rules = AuditRules(catalogue: [image("a", stores: ["fast", "slow"]), image("b", stores: ["fast"]), image("c", stores: ["fast"])],
                               activeImports: [], now: Self.now)
        let findings = rules.findings(for: StoreHoldings(store: "fast", images: [info("a", 11), info("c", 10), info("x", 5)], leftovers: []))
        #expect(Set(kinds(findings)) == ["fast x orphan", "fast a size-mismatch", "fast b missing"])
        let orphan = findings.first { $0.kind == .orphan }!
        #expect(orphan["glance_status"] == .text("unknown"))
        #expect(orphan["size"] == .number(5))
        let size = findings.first { $0.kind == .sizeMismatch }!
        #expect(size["store_size"] == .number(11) && size["glance_size"] == .number(10))
        #expect(size["location"] == .text("file:///d/fast/a"))
        let missing = findings.first { $0.kind == .missing }!
        #expect(missing["location"] == .text("file:///d/fast/b"))
        // The copy of `a` in another store than recorded: an orphan that names where Glance has it.
        let elsewhere = rules.findings(for: StoreHoldings(store: "cheap", images: [info("b", 10)], leftovers: []))
        #expect(kinds(elsewhere) == ["cheap b orphan"])
        #expect(elsewhere[0]["glance_stores"] == .text("fast"))
    }

    @Test func dataOnItsWayIsNotAnOrphan() {
        // An import task running, or an upload through Glance started minutes ago: not yet registered.
        let rules = AuditRules(catalogue: [image("copying", stores: ["fast"], importing: ["slow"]), image("saving", stores: [], status: "saving"),
                                           image("stuck", stores: [], status: "saving")],
                               activeImports: ["copying"], now: Self.now)
        let findings = rules.findings(for: StoreHoldings(store: "slow", images: [info("copying", 10), info("saving", 3, Self.recent), info("stuck", 3, Self.old)], leftovers: []))
        #expect(kinds(findings) == ["slow stuck orphan"])
    }

    @Test func withoutLocationsCopiesAreMatchedByStores() {
        let rules = AuditRules(catalogue: [image("a", stores: ["fast"], locations: false)], activeImports: [], now: Self.now)
        #expect(rules.findings(for: StoreHoldings(store: "fast", images: [info("a", 10)], leftovers: [])).isEmpty)
        let missing = rules.findings(for: StoreHoldings(store: "fast", images: [], leftovers: []))
        #expect(missing.first?["location"] == .text("(not shown)"))
    }

    @Test func staleMarkersStagedDataAndDriverLeftovers() {
        let rules = AuditRules(catalogue: [image("g", stores: ["fast"], importing: ["slow"]), image("h", stores: ["fast"], importing: ["slow"]),
                                           image("u", stores: [], status: "uploading")],
                               activeImports: ["h"], now: Self.now)
        let markers = rules.markerFindings(tasks: ["g": [CatalogueTask(id: "t1", status: "failure", message: "boom")], "h": []],
                                           audited: ["fast", "slow"])
        #expect(kinds(markers) == ["slow g leftover"])
        #expect(markers[0]["last_task"] == .text("t1 failure") && markers[0]["task_message"] == .text("boom"))
        // Staged data of an upload waiting for its import is not a leftover; of an active image it is.
        let staged = rules.stagingFindings(store: "os_glance_staging_store", files: [info("u", 4), info("g", 4), info("g.qcow2", 4)])
        #expect(kinds(staged) == ["os_glance_staging_store g leftover", "os_glance_staging_store g leftover"])
        // Task work files: only once they are an hour old.
        #expect(rules.tasksStoreFindings(store: "t", files: [info("w1", 1, Self.recent), info("w2", 1, Self.old)]).map(\.image) == ["w2"])
        let partial = AuditRules.leftover(store: "fast", StoreLeftover(name: "/d/fast/.glance-storefs-partial-1", image: nil, size: 3, modified: nil, kind: "partial write"))
        #expect(partial.image == ".glance-storefs-partial-1")
        #expect(partial["name"] == .text("/d/fast/.glance-storefs-partial-1"))
    }

    @Test func checksumsAreComparedWithGlancesRecord() {
        let rules = AuditRules(catalogue: [image("a", stores: ["fast"])], activeImports: [], now: Self.now)
        #expect(rules.checksumFinding(store: "fast", image: rules.catalogue["a"]!, size: 10, digests: ImageDigests(checksum: "c-a", multihash: "h-a")) == nil)
        let bad = rules.checksumFinding(store: "fast", image: rules.catalogue["a"]!, size: 10, digests: ImageDigests(checksum: "c-a", multihash: "other"))
        #expect(bad?.kind == .checksumMismatch)
        #expect(bad?["glance_os_hash_value"] == .text("h-a") && bad?["store_os_hash_value"] == .text("other"))
        // Only copies of the recorded size are worth reading.
        let held = StoreHoldings(store: "fast", images: [info("a", 11)], leftovers: [])
        #expect(rules.verifiable(held).isEmpty)
    }

    @Test func outputFormatsAndExitStatus() throws {
        var report = AuditReport()
        #expect(report.exitStatus == 0)
        report.findings = [AuditFinding(store: "fast", image: "a", kind: .sizeMismatch, evidence: [("store_size", .number(11)), ("what", .text("two words"))])]
        #expect(report.exitStatus == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(report.findings[0].jsonLine.utf8)) as? [String: Any])
        #expect(object["store"] as? String == "fast" && object["image"] as? String == "a" && object["finding"] as? String == "size-mismatch")
        #expect(object["store_size"] as? Int == 11)
        #expect(!report.findings[0].jsonLine.contains("\n"))
        #expect(report.findings[0].evidenceText == "store_size=11 what=\"two words\"")
        report.problems = ["cannot list store slow: down"]
        #expect(report.exitStatus == 2)
        #expect(report.table().contains("error: cannot list store slow"))
    }

    @Test func credentialsInLocationsAreNeverShown() {
        #expect(Redact.location("s3://AKIA:s3cr3t@s3.example.com/bucket/id") == "s3://***@s3.example.com/bucket/id")
        #expect(Redact.location("swift+https://tenant%3Auser:key@auth.example.com/v2.0/glance/id") == "swift+https://***@auth.example.com/v2.0/glance/id")
        #expect(Redact.location("file:///var/lib/glance/images/id") == "file:///var/lib/glance/images/id")
        #expect(Redact.location("rbd://fsid/pool/id/snap") == "rbd://fsid/pool/id/snap")
    }

    @Test func glancesImageJSONIsRead() throws {
        let json = """
            {"id": "i1", "status": "active", "name": null, "size": 42, "checksum": "c", "os_hash_algo": "sha512",
             "os_hash_value": "h", "stores": "fast,slow", "os_hidden": true, "os_glance_importing_to_stores": "cheap",
             "locations": [{"url": "file:///a/i1", "metadata": {"store": "fast"}}, {"url": "file:///b/i1", "metadata": {}}]}
            """
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        let image = try #require(CatalogueImage(json: object))
        #expect(image.size == 42 && image.name == nil && image.hidden)
        #expect(image.stores == ["fast", "slow"])
        #expect(image.location(in: "fast") == "file:///a/i1")
        #expect(image.importingToStores == ["cheap"])
        #expect(!image.attributes.contains { $0.0 == "name" })
        #expect(image.attributes.first { $0.0 == "size" }?.1 == "42")
        // show_image_direct_url alone: the first location, its store the first of `stores`.
        let direct = try #require(CatalogueImage(json: ["id": "i2", "status": "active", "stores": "slow", "direct_url": "file:///b/i2"]))
        #expect(direct.location(in: "slow") == "file:///b/i2")
        #expect(CatalogueImage(json: ["id": "i3", "status": "active"])?.locations == nil)
        #expect(CatalogueImage(json: ["status": "active"]) == nil)
    }
}
