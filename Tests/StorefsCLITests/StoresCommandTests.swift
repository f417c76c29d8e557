import Foundation
import Testing
@testable import StorefsCLI

/// A glance-api.conf in a scratch directory.
final class CLIFixture {
    let dir = NSTemporaryDirectory() + "storefs-cli-" + UUID().uuidString
    init() { try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) }
    deinit { try? FileManager.default.removeItem(atPath: dir) }

    func write(_ text: String, name: String = "glance-api.conf") -> String {
        let path = dir + "/" + name
        try! text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// The configuration observed against a real glance-api in reference §2.1.
    var reference: String {
        write("""
            [DEFAULT]
            enabled_backends = fast:file, slow:file, web:http
            [glance_store]
            default_backend = fast
            [fast]
            store_description = "Fast filesystem store"
            filesystem_store_datadir = \(dir)/fast
            [slow]
            filesystem_store_datadir = \(dir)/slow
            filesystem_store_chunk_size = 131072
            filesystem_thin_provisioning = true
            [web]
            store_description = Read-only HTTP store
            https_insecure = false
            storefs_index_url = http://127.0.0.1:9/images/
            [os_glance_staging_store]
            filesystem_store_datadir = \(dir)/staging
            [os_glance_tasks_store]
            filesystem_store_datadir = \(dir)/tasks
            """)
    }
}

/// `stores` prints what Glance's /v2/info/stores returns (reference §2.1, §2.2), byte for byte.
struct StoresCommandTests {
    @Test func storesIsGlancesInfoStores() {
        let f = CLIFixture()
        let out = StorefsCLI.run(["stores", "--config-file", f.reference])
        #expect(out.status == 0)
        #expect(out.stderr == "")
        #expect(out.stdout == """
            {"stores": [{"id": "fast", "description": "Fast filesystem store", "default": "true"}, {"id": "slow"}, \
            {"id": "web", "description": "Read-only HTTP store", "read-only": "true"}]}

            """)
    }

    @Test func storesDetailAddsTypeAndProperties() {
        let f = CLIFixture()
        let out = StorefsCLI.run(["stores", "--detail", "--config-file=\(f.reference)"])
        #expect(out.status == 0)
        #expect(out.stdout == """
            {"stores": [{"id": "fast", "description": "Fast filesystem store", "default": "true", "type": "file", \
            "properties": {"data_dir": "\(f.dir)/fast", "chunk_size": 65536, "thin_provisioning": false}}, \
            {"id": "slow", "type": "file", "properties": {"data_dir": "\(f.dir)/slow", "chunk_size": 131072, \
            "thin_provisioning": true}}, {"id": "web", "description": "Read-only HTTP store", "read-only": "true", \
            "type": "http", "properties": {}}]}

            """)
    }

    @Test func detailPropertiesOfOtherTypesUseGlancesUnits() {
        let f = CLIFixture()
        let path = f.write("""
            [DEFAULT]
            enabled_backends = fast:file, ceph:rbd, obj:swift, vol:cinder
            [glance_store]
            default_backend = ceph
            [fast]
            filesystem_store_datadir = \(f.dir)/fast
            [ceph]
            rbd_store_chunk_size = 4
            [obj]
            swift_store_container = imgs
            swift_store_large_object_size = 2
            swift_store_key = s3cr3t-key
            swift_store_user = admin:admin
            swift_store_auth_address = https://keystone.example:5000/v3
            [vol]
            cinder_volume_type = fast-ssd
            cinder_store_auth_address = https://keystone.example:5000/v3
            cinder_store_user_name = glance
            cinder_store_password = s3cr3t-pass
            cinder_store_project_name = images
            [os_glance_staging_store]
            filesystem_store_datadir = \(f.dir)/staging
            [os_glance_tasks_store]
            filesystem_store_datadir = \(f.dir)/tasks
            """)
        let out = StorefsCLI.run(["stores", "--detail", "--config-file", path])
        #expect(out.status == 0)
        #expect(out.stdout.contains(#"{"id": "ceph", "default": "true", "type": "rbd", "properties": {"chunk_size": 4194304, "pool": "images", "thin_provisioning": false}}"#))
        #expect(out.stdout.contains(#""properties": {"container": "imgs", "large_object_size": 2048000, "large_object_chunk_size": 204800000}"#))
        #expect(out.stdout.contains(#""properties": {"volume_type": "fast-ssd", "use_multipath": false}"#))
        #expect(!out.stdout.contains("s3cr3t"))
        #expect(!out.stdout.contains("admin:admin"))
        let check = StorefsCLI.run(["check", "--config-file", path])
        #expect(check.stdout.contains("  ceph  rbd       pool images as librados' default user, librados' default ceph.conf, 4 MiB objects  (default)\n"))
        #expect(check.stdout.contains("  obj   swift     container imgs at https://keystone.example:5000/v3 (auth v2), DLO from 2048000 bytes in 204800000-byte segments\n"), "\(check.stdout)")
        #expect(!check.stdout.contains("admin:admin"))
        #expect(!check.stdout.contains("s3cr3t") && !check.stderr.contains("s3cr3t"))
    }

    @Test func nonASCIIDescriptionsAreEscapedAsPythonDoes() {
        let f = CLIFixture()
        let text = try! String(contentsOfFile: f.reference, encoding: .utf8)
        let path = f.write(text.replacingOccurrences(of: "\"Fast filesystem store\"", with: "Schnell – \"quoted\" 🚀"))
        let out = StorefsCLI.run(["stores", "--config-file", path])
        #expect(out.stdout.contains(#""description": "Schnell \u2013 \"quoted\" \ud83d\ude80""#))
    }

    @Test func reservedStoresNeverAppear() {
        let f = CLIFixture()
        let out = StorefsCLI.run(["stores", "--detail", "--config-file", f.reference])
        #expect(!out.stdout.contains("os_glance"))
        #expect(!out.stdout.contains("\(f.dir)/staging"))
    }

    @Test func anInvalidConfigurationPrintsEveryErrorAndFails() {
        let f = CLIFixture()
        let path = f.write("[DEFAULT]\nenabled_backends = a:file, b:nope\n[glance_store]\ndefault_backend = c\n[a]\nfilesystem_store_datadir = \(f.dir)/a\n")
        let out = StorefsCLI.run(["stores", "--config-file", path])
        #expect(out.status == 1)
        #expect(out.stdout == "")
        let lines = out.stderr.split(separator: "\n")
        #expect(lines.count == 2)
        #expect(lines[0].hasPrefix("\(path):2: [DEFAULT] enabled_backends: store 'b' has unknown type 'nope'"))
        #expect(lines[1] == "\(path):4: [glance_store] default_backend: 'c' is not one of enabled_backends (a, b)")
    }
}

struct CheckCommandTests {
    @Test func checkSummarisesStoresDefaultAndReservedDatadirs() {
        let f = CLIFixture()
        let out = StorefsCLI.run(["check", "--config-file", f.reference])
        #expect(out.status == 0)
        #expect(out.stdout == """
            configuration OK: \(f.dir)/glance-api.conf
            stores (3, default fast):
              fast  file      \(f.dir)/fast  (default)  "Fast filesystem store"
              slow  file      \(f.dir)/slow
              web   http      http://127.0.0.1:9/images/  (read-only)  "Read-only HTTP store"
            Glance's catalogue (user.glance.image.*, audit): not asked: [keystone_authtoken] auth_url is not set and no Glance URL was given (--glance-url / -o glance_url=)
            reserved stores (never shown):
              os_glance_staging_store  \(f.dir)/staging
              os_glance_tasks_store  \(f.dir)/tasks

            """)
    }

    @Test func checkPrintsWarningsOnStderrAndStillSucceeds() {
        let f = CLIFixture()
        let text = try! String(contentsOfFile: f.reference, encoding: .utf8) + "\n[fast]\nfilesystem_store_datadri = /typo\n"
        let path = f.write(text)
        let out = StorefsCLI.run(["check", "--config-file", path])
        #expect(out.status == 0)
        #expect(out.stderr.hasSuffix("warning: [fast] filesystem_store_datadri: not an option of a file store; ignored\n"))
    }

    @Test func configDirAndFileAreCombinedInOrder() {
        let f = CLIFixture()
        _ = f.reference
        try! FileManager.default.createDirectory(atPath: f.dir + "/conf.d", withIntermediateDirectories: true)
        _ = f.write("[glance_store]\ndefault_backend = slow\n", name: "conf.d/50-default.conf")
        let after = StorefsCLI.run(["check", "--config-file", f.dir + "/glance-api.conf", "--config-dir", f.dir + "/conf.d"])
        #expect(after.stdout.contains("default slow"))
        let before = StorefsCLI.run(["check", "--config-dir", f.dir + "/conf.d", "--config-file", f.dir + "/glance-api.conf"])
        #expect(before.stdout.contains("default fast"))
    }

    @Test func badArguments() {
        #expect(StorefsCLI.run([]).status == 2)
        #expect(StorefsCLI.run(["frobnicate"]).status == 2)
        let noPath = StorefsCLI.run(["check", "--config-file"])
        #expect(noPath.status == 2 && noPath.stdout.isEmpty)
        #expect(noPath.stderr.hasPrefix("Error: Missing value for '--config-file <file>'\n"), "\(noPath.stderr)")
        #expect(noPath.stderr.contains("Usage: glance-storefs check [--config-file <file> ...] [--config-dir <dir> ...]"))
        #expect(StorefsCLI.run(["check", "--bogus"]).status == 2)
        #expect(StorefsCLI.run(["check", "--bogus"]).stderr.hasPrefix("Error: Unknown option '--bogus'\n"))
        #expect(StorefsCLI.run(["stores", "extra"]).stderr.hasPrefix("Error: Unexpected argument 'extra'\n"))
        let missing = StorefsCLI.run(["check", "--config-file", "/nonexistent.conf"])
        #expect(missing.status == 1)
        #expect(missing.stderr == "/nonexistent.conf: config file not found (--config-file)\n")
    }

    @Test func theBinaryExitsNonZeroWithOneLinePerError() throws {
        let f = CLIFixture()
        let path = f.write("[DEFAULT]\nenabled_backends = os_glance_x:file\n[glance_store]\ndefault_backend = os_glance_x\n")
        let binary = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".build/debug/glance-storefs").path
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = ["check", "--config-file", path]
        let err = Pipe()
        p.standardError = err
        p.standardOutput = Pipe()
        try p.run()
        p.waitUntilExit()
        #expect(p.terminationStatus == 1)
        let lines = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).split(separator: "\n")
        #expect(lines.count == 1)
        #expect(lines.first?.contains("\(path):2: [DEFAULT] enabled_backends: store id 'os_glance_x'") == true)
    }
}

struct AuditCommandTests {
    @Test func badArgumentsAndAnUnreachableCatalogueExitTwoBeforeAnythingIsRead() async {
        let f = CLIFixture()
        let unknown = await StorefsCLI.audit(["--config-file", f.reference, "--bogus"])
        #expect(unknown.status == 2 && unknown.stderr.hasPrefix("Error: Unknown option '--bogus'\n"), "\(unknown.stderr)")
        let store = await StorefsCLI.audit(["--config-file", f.reference, "--store", "nosuch"])
        #expect(store.status == 2 && store.stderr.contains("--store nosuch: not a store of enabled_backends (fast, slow, web)"))
        let url = await StorefsCLI.audit(["--config-file", f.reference, "--glance-url", "ftp://x"])
        #expect(url.status == 2)
        // No [keystone_authtoken] and no --glance-url: one line saying what is missing.
        let none = await StorefsCLI.audit(["--config-file", f.reference])
        #expect(none.status == 2 && none.stdout.isEmpty)
        #expect(none.stderr == "glance-storefs audit: cannot ask Glance's catalogue: [keystone_authtoken] auth_url is not set and no Glance URL was given (--glance-url / -o glance_url=)\n")
        let help = await StorefsCLI.audit(["--help"])
        #expect(help.status == 0 && help.stdout.contains("--verify"), "\(help)")
    }
}
