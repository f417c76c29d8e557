import Foundation
import Testing
@testable import GlanceConfig

/// One test per validation rule: each bad input gives one line naming file, section and option.
struct ValidationTests {
    /// The single error of `text`, which must mention all of `fragments`.
    func expectError(_ f: ConfigFixture, _ text: String, section: String, option: String, _ fragments: String...,
                     sourceLocation: Testing.SourceLocation = #_sourceLocation) throws {
        let errors = try f.errors(text)
        #expect(errors.count == 1, "\(errors)", sourceLocation: sourceLocation)
        let error = try #require(errors.first, sourceLocation: sourceLocation)
        #expect(error.section == section, sourceLocation: sourceLocation)
        #expect(error.option == option, sourceLocation: sourceLocation)
        #expect(error.location.file == f.dir + "/glance-api.conf", sourceLocation: sourceLocation)
        let line = error.description
        #expect(line.hasPrefix(f.dir + "/glance-api.conf"), sourceLocation: sourceLocation)
        #expect(line.contains("[\(section)] \(option): "), sourceLocation: sourceLocation)
        #expect(!line.contains("\n"), sourceLocation: sourceLocation)
        for fragment in fragments { #expect(line.contains(fragment), "\(line)", sourceLocation: sourceLocation) }
    }

    @Test func aValidConfigurationLoads() throws {
        let f = ConfigFixture()
        let c = try f.configuration(f.validConfig("[fast]\nstore_description = \"Fast one\"\n"))
        #expect(c.stores.map(\.id) == ["fast", "slow"])
        #expect(c.stores.map(\.type) == [.file, .file])
        #expect(c.defaultStoreID == "fast")
        #expect(c.stores[0].description == "Fast one")
        #expect(c.stores[1].description == nil)
        #expect(c.reserved.map(\.id) == ["os_glance_staging_store", "os_glance_tasks_store"])
        #expect(c.reserved[0].file?.directories.map(\.path) == [f.dir + "/staging"])
        #expect(c.warnings.isEmpty)
    }

    @Test func enabledBackendsMissing() throws {
        let f = ConfigFixture()
        try expectError(f, "[DEFAULT]\n[glance_store]\ndefault_backend = fast\n", section: "DEFAULT",
                        option: "enabled_backends", "not set", "multi-store")
    }

    @Test func enabledBackendsEmpty() throws {
        let f = ConfigFixture()
        try expectError(f, "[DEFAULT]\nenabled_backends =\n[glance_store]\ndefault_backend = fast\n",
                        section: "DEFAULT", option: "enabled_backends", "empty")
    }

    @Test func lowercaseDefaultSectionIsNotDEFAULT() throws {
        let f = ConfigFixture()
        let text = f.validConfig().replacingOccurrences(of: "[DEFAULT]", with: "[default]")
        let errors = try f.errors(text)
        #expect(errors.contains { $0.option == "enabled_backends" && $0.message.contains("not set") })
    }

    @Test func pieceWithoutColonIsRefused() throws {
        let f = ConfigFixture()
        try expectError(f, f.validConfig(backends: "fast:file, b, slow:file"), section: "DEFAULT",
                        option: "enabled_backends", "'b' is not an id:type pair")
    }

    @Test func trailingCommaIsRefused() throws {
        let f = ConfigFixture()
        try expectError(f, f.validConfig(backends: "fast:file, slow:file,"), section: "DEFAULT",
                        option: "enabled_backends", "NAME:VALUE")
    }

    @Test func duplicateIdsAreRefused() throws {
        let f = ConfigFixture()
        try expectError(f, f.validConfig(backends: "fast:file, fast:http"), section: "DEFAULT",
                        option: "enabled_backends", "Duplicate key fast")
    }

    @Test func idsDifferingOnlyInCaseShareASection() throws {
        let f = ConfigFixture()
        try expectError(f, f.validConfig(backends: "fast:file, slow:file, FAST:http"), section: "DEFAULT",
                        option: "enabled_backends", "share the section [fast]")
    }

    @Test(arguments: [("old:sheepdogg", "unknown type 'sheepdogg'"), ("old:FILE", "did you mean 'file'"),
                      ("old:fil", "did you mean 'file'"), ("old:", "unknown type ''"),
                      ("old:glance.store.filesystem.Store", "legacy class names")])
    func unknownTypesAreRefused(pair: String, fragment: String) throws {
        let f = ConfigFixture()
        try expectError(f, f.validConfig(backends: "fast:file, slow:file, \(pair)"), section: "DEFAULT",
                        option: "enabled_backends", fragment)
    }

    @Test func reservedPrefixIsRefused() throws {
        let f = ConfigFixture()
        try expectError(f, f.validConfig(backends: "fast:file, slow:file, os_glance_mine:file"), section: "DEFAULT",
                        option: "enabled_backends", "'os_glance_' prefix is reserved")
        // The check is on the exact prefix, as Glance's.
        #expect(try f.errors(f.validConfig("[OS_GLANCE_x]\nfilesystem_store_datadir = \(f.dir)/x\n",
                                           backends: "fast:file, slow:file, OS_GLANCE_x:file")).isEmpty)
    }

    @Test func idsThatCannotBeDirectoryNames() throws {
        let f = ConfigFixture()
        try expectError(f, f.validConfig(backends: "fast:file, slow:file, a/b:http"), section: "DEFAULT",
                        option: "enabled_backends", "cannot be a directory name")
    }

    @Test func defaultBackendUnset() throws {
        let f = ConfigFixture()
        let text = f.validConfig().replacingOccurrences(of: "default_backend = fast", with: "")
        try expectError(f, text, section: "glance_store", option: "default_backend", "not set")
    }

    @Test func defaultBackendUnknown() throws {
        let f = ConfigFixture()
        try expectError(f, f.validConfig(defaultBackend: "zzz"), section: "glance_store", option: "default_backend",
                        "'zzz' is not one of enabled_backends (fast, slow)")
    }

    @Test func defaultBackendReserved() throws {
        let f = ConfigFixture()
        try expectError(f, f.validConfig(defaultBackend: "os_glance_staging_store"), section: "glance_store",
                        option: "default_backend", "reserved store")
    }

    @Test func defaultBackendIsCaseSensitive() throws {
        let f = ConfigFixture()
        try expectError(f, f.validConfig(defaultBackend: "FAST"), section: "glance_store", option: "default_backend",
                        "'FAST' is not one of")
    }

    @Test func moreThanOneHTTPStore() throws {
        let f = ConfigFixture()
        try expectError(f, f.validConfig(backends: "fast:file, slow:file, w1:http, w2:http"), section: "DEFAULT",
                        option: "enabled_backends", "more than one http store (w1, w2)")
    }

    @Test func sharedDatadir() throws {
        let f = ConfigFixture()
        let text = f.validConfig("[slow]\nfilesystem_store_datadir = \(f.dir)/fast/\n")
        try expectError(f, text, section: "slow", option: "filesystem_store_datadir", "datadir of store 'fast'")
    }

    @Test func nestedDatadir() throws {
        let f = ConfigFixture()
        try expectError(f, f.validConfig("[slow]\nfilesystem_store_datadir = \(f.dir)/fast/inner\n"),
                        section: "slow", option: "filesystem_store_datadir", "is inside")
        // A datadir containing every other one: one error per store it contains.
        let errors = try f.errors(f.validConfig("[slow]\nfilesystem_store_datadir = \(f.dir)\n"))
        #expect(errors.count == 3)
        #expect(errors.map(\.section) == ["slow", "os_glance_staging_store", "os_glance_tasks_store"])
        #expect(errors[0].message.contains("contains \(f.dir)/fast, the datadir of store 'fast'"))
        #expect(errors[1...].allSatisfy { $0.message.contains("is inside \(f.dir), the datadir of store 'slow'") })
    }

    @Test func datadirThroughASymlinkIsTheSameDirectory() throws {
        let f = ConfigFixture()
        try FileManager.default.createDirectory(atPath: f.dir + "/fast", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: f.dir + "/link", withDestinationPath: f.dir + "/fast")
        try expectError(f, f.validConfig("[slow]\nfilesystem_store_datadir = \(f.dir)/link\n"),
                        section: "slow", option: "filesystem_store_datadir", "datadir of store 'fast'")
    }

    @Test func datadirInsideAReservedStore() throws {
        let f = ConfigFixture()
        try expectError(f, f.validConfig("[slow]\nfilesystem_store_datadir = \(f.dir)/staging/images\n"),
                        section: "os_glance_staging_store", option: "filesystem_store_datadir",
                        "contains \(f.dir)/staging/images, the datadir of store 'slow'")
    }

    @Test func reservedStoresDefaultDatadirs() throws {
        let f = ConfigFixture()
        let c = try f.configuration("""
            [DEFAULT]
            enabled_backends = fast:file
            [glance_store]
            default_backend = fast
            [fast]
            filesystem_store_datadir = \(f.dir)/fast
            """)
        #expect(c.reserved.map { $0.file!.directories.map(\.path) } ==
                [["/var/lib/glance/os_glance_staging_store"], ["/var/lib/glance/os_glance_tasks_store"]])
    }

    @Test func chunkSizeZero() throws {
        let f = ConfigFixture()
        try expectError(f, f.validConfig("[fast]\nfilesystem_store_chunk_size = 0\n"), section: "fast",
                        option: "filesystem_store_chunk_size", "greater than or equal to 1")
    }

    @Test func chunkSizeOfAReservedStore() throws {
        let f = ConfigFixture()
        try expectError(f, f.validConfig("[os_glance_tasks_store]\nfilesystem_store_chunk_size = big\n"),
                        section: "os_glance_tasks_store", option: "filesystem_store_chunk_size", "'big' is not an integer")
    }

    @Test func badBool() throws {
        let f = ConfigFixture()
        try expectError(f, f.validConfig("[fast]\nfilesystem_thin_provisioning = y\n"), section: "fast",
                        option: "filesystem_thin_provisioning", "unexpected boolean value 'y'")
    }

    @Test func inlineCommentMakesAnIntegerInvalid() throws {
        let f = ConfigFixture()
        try expectError(f, f.validConfig("[fast]\nfilesystem_store_chunk_size = 5 # five\n"), section: "fast",
                        option: "filesystem_store_chunk_size", "'5 # five' is not an integer")
    }

    @Test(arguments: [("200", "owner read bit"), ("0o644", "not an integer"), ("680", "not an octal file mode"),
                      ("17777", "not an octal file mode")])
    func badFilePerm(value: String, fragment: String) throws {
        let f = ConfigFixture()
        try expectError(f, f.validConfig("[fast]\nfilesystem_store_file_perm = \(value)\n"), section: "fast",
                        option: "filesystem_store_file_perm", fragment)
    }

    @Test func filePermDigitsAreOctal() throws {
        let f = ConfigFixture()
        #expect(try f.configuration(f.validConfig("[fast]\nfilesystem_store_file_perm = 640\n")).stores[0].file?.filePermissions == 0o640)
        #expect(try f.configuration(f.validConfig("[fast]\nfilesystem_store_file_perm = 0640\n")).stores[0].file?.filePermissions == 0o640)
        #expect(try f.configuration(f.validConfig("[fast]\nfilesystem_store_file_perm = 0\n")).stores[0].file?.filePermissions == nil)
    }

    @Test func badDatadirsPriority() throws {
        let f = ConfigFixture()
        let text = f.validConfig("[fast]\nfilesystem_store_datadir =\nfilesystem_store_datadirs = \(f.dir)/fast:high\n")
        try expectError(f, text, section: "fast", option: "filesystem_store_datadirs", "invalid priority 'high'")
    }

    @Test func datadirsOnlyWorks() throws {
        let f = ConfigFixture()
        let text = f.validConfig().replacingOccurrences(of: "filesystem_store_datadir = \(f.dir)/fast",
            with: "filesystem_store_datadirs = \(f.dir)/fast/a:200\nfilesystem_store_datadirs = \(f.dir)/fast/b:10\nfilesystem_store_datadirs = \(f.dir)/fast/c")
        let store = try f.configuration(text).stores[0]
        #expect(store.file?.usesDatadirs == true)
        #expect(store.file?.directories.map(\.path) == ["\(f.dir)/fast/a", "\(f.dir)/fast/b", "\(f.dir)/fast/c"])
        #expect(store.file?.directories.map(\.priority) == [200, 10, 0])
    }

    @Test func datadirsWithAnExplicitlyEmptyDatadirWorks() throws {
        let f = ConfigFixture()
        let text = f.validConfig("[fast]\nfilesystem_store_datadir =\nfilesystem_store_datadirs = \(f.dir)/fast:1\n")
        #expect(try f.configuration(text).stores[0].file?.directories.map(\.path) == ["\(f.dir)/fast"])
    }

    @Test func datadirAndDatadirsTogether() throws {
        let f = ConfigFixture()
        try expectError(f, f.validConfig("[fast]\nfilesystem_store_datadirs = \(f.dir)/fast2:1\n"), section: "fast",
                        option: "filesystem_store_datadir", "not both")
    }

    @Test func noDatadirAtAll() throws {
        let f = ConfigFixture()
        try expectError(f, f.validConfig("[fast]\nfilesystem_store_datadir =\n"), section: "fast",
                        option: "filesystem_store_datadir", "empty")
    }

    @Test func sameDirectoryTwiceWithDifferentPriorities() throws {
        let f = ConfigFixture()
        let text = f.validConfig("[fast]\nfilesystem_store_datadir =\nfilesystem_store_datadirs = \(f.dir)/fast:1\nfilesystem_store_datadirs = \(f.dir)/fast:2\n")
        try expectError(f, text, section: "fast", option: "filesystem_store_datadirs", "listed twice, with priorities 1 and 2")
    }

    @Test func sameDirectoryTwiceWithTheSamePriorityIsAWarning() throws {
        let f = ConfigFixture()
        let text = f.validConfig("[fast]\nfilesystem_store_datadir =\nfilesystem_store_datadirs = \(f.dir)/fast:1\nfilesystem_store_datadirs = \(f.dir)/fast:1\n")
        let c = try f.configuration(text)
        #expect(c.stores[0].file?.directories.count == 1)
        #expect(c.warnings.contains { $0.message.contains("listed twice") })
    }

    @Test func relativeDatadir() throws {
        let f = ConfigFixture()
        try expectError(f, f.validConfig("[fast]\nfilesystem_store_datadir = images\n"), section: "fast",
                        option: "filesystem_store_datadir", "not an absolute path")
    }

    @Test func metadataFileMustMatchGlancesSchema() throws {
        let f = ConfigFixture()
        let bad = f.write("meta-bad.json", "{\"id\": \"x\"}")
        try expectError(f, f.validConfig("[fast]\nfilesystem_store_metadata_file = \(bad)\n"), section: "fast",
                        option: "filesystem_store_metadata_file", "needs string 'id' and 'mountpoint'")
        let good = f.write("meta.json", "[{\"id\": \"nfs-1\", \"mountpoint\": \"\(f.dir)\"}]")
        let c = try f.configuration(f.validConfig("[fast]\nfilesystem_store_metadata_file = \(good)\n"))
        #expect(c.stores[0].file?.metadata == [["id": "nfs-1", "mountpoint": f.dir]])
    }

    let swiftCredentials = "swift_store_auth_address = http://127.0.0.1:5000/v3\nswift_store_user = p:u\nswift_store_key = k\n"

    @Test func typeErrorsInOtherStoreTypes() throws {
        let f = ConfigFixture()
        try expectError(f, f.validConfig("[sw]\n\(swiftCredentials)swift_store_multiple_containers_seed = 33\n", backends: "fast:file, slow:file, sw:swift"),
                        section: "sw", option: "swift_store_multiple_containers_seed", "less than or equal to 32")
        try expectError(f, f.validConfig("[sw]\n\(swiftCredentials)swift_store_endpoint_type = privateURL\n", backends: "fast:file, slow:file, sw:swift"),
                        section: "sw", option: "swift_store_endpoint_type", "valid values are publicURL")
        try expectError(f, f.validConfig("[sd]\nsheepdog_store_port = 70000\n", backends: "fast:file, slow:file, sd:sheepdog"),
                        section: "sd", option: "sheepdog_store_port", "65535")
        try expectError(f, f.validConfig("[rbd]\nrbd_store_chunk_size = 0\n", backends: "fast:file, slow:file, rbd:rbd"),
                        section: "rbd", option: "rbd_store_chunk_size", "greater than or equal to 1")
    }

    @Test func allErrorsAreReportedNotJustTheFirst() throws {
        let f = ConfigFixture()
        let text = f.validConfig("[fast]\nfilesystem_store_chunk_size = 0\nfilesystem_thin_provisioning = maybe\n",
                                 backends: "fast:file, slow:file, os_glance_x:file, w:nope", defaultBackend: "zzz")
        let errors = try f.errors(text)
        #expect(errors.count == 5, "\(errors)")
        #expect(Set(errors.compactMap(\.option)) == ["enabled_backends", "default_backend", "filesystem_store_chunk_size",
                                                     "filesystem_thin_provisioning"])
    }

    @Test func errorsNameTheLineThatSetTheValue() throws {
        let f = ConfigFixture()
        let errors = try f.errors(f.validConfig("[fast]\n\nfilesystem_store_chunk_size = 0\n"))
        let lines = f.validConfig().split(separator: "\n", omittingEmptySubsequences: false).count
        #expect(errors.first?.location.line == lines + 2)
    }

    @Test func unknownOptionsInAStoreSectionAreWarnings() throws {
        let f = ConfigFixture()
        let c = try f.configuration(f.validConfig("[fast]\nfilesystem_store_datadri = /typo\nrbd_store_pool = x\n"))
        #expect(c.warnings.map(\.option) == ["filesystem_store_datadri", "rbd_store_pool"])
        #expect(c.warnings.allSatisfy { $0.description.contains("warning: [fast]") })
    }

    @Test func secretsNeverAppearInDiagnostics() throws {
        let f = ConfigFixture()
        let text = f.validConfig("[c]\ncinder_store_password = hunter2-secret\nunknown_secret = hunter2-secret\n"
                                 + "cinder_store_auth_address = http://k:5000/v3\ncinder_store_user_name = g\ncinder_store_project_name = p\n",
                                 backends: "fast:file, slow:file, c:cinder")
        let c = try f.configuration(text)
        #expect(!c.warnings.map(\.description).joined().contains("hunter2"))
        // Refused (no user, no project): the error names what is missing, never the password.
        let errors = try f.errors(f.validConfig("[c]\ncinder_store_password = hunter2-secret\n", backends: "fast:file, c:cinder"))
        #expect(errors.count == 1 && !errors.map(\.description).joined().contains("hunter2"))
    }

    @Test func wholeGlanceAPIConfLoadsUnchanged() throws {
        // Sections and options of a real glance-api.conf that are not ours are ignored.
        let f = ConfigFixture()
        let text = """
            [DEFAULT]
            debug = true
            bind_host = 0.0.0.0
            enabled_import_methods = [glance-direct,web-download]
            enabled_backends = fast:file, web:http
            [database]
            connection = sqlite:////var/lib/glance/glance.sqlite
            [keystone_authtoken]
            password = not-ours
            [paste_deploy]
            flavor = keystone
            [glance_store]
            default_backend = fast
            [fast]
            filesystem_store_datadir = \(f.dir)/fast
            [web]
            https_insecure = false
            storefs_index_url = https://images.example.org/public/
            [os_glance_staging_store]
            filesystem_store_datadir = \(f.dir)/staging
            [os_glance_tasks_store]
            filesystem_store_datadir = \(f.dir)/tasks
            """
        let c = try f.configuration(text)
        #expect(c.stores.map(\.id) == ["fast", "web"])
        #expect(c.warnings.isEmpty)
    }

    @Test func httpStoreOptionsAreCheckedAndWarned() throws {
        let f = ConfigFixture()
        func http(_ options: String) throws -> Result<GlanceConfiguration, ValidationFailure> {
            GlanceConfiguration.validate(try f.source([.file(f.write("http.conf", """
                [DEFAULT]
                enabled_backends = fast:file, web:http
                [glance_store]
                default_backend = fast
                [fast]
                filesystem_store_datadir = \(f.dir)/fast
                [web]
                \(options)
                """))]))
        }
        let none = try http("").get()
        #expect(none.warnings.map(\.description).contains { $0.hasSuffix("[web] storefs_index_url: not set: Glance's http store has no listing of its own, so the store's directory is empty") })
        let unverified = try http("storefs_index_url = https://h.example/i/").get()
        #expect(unverified.warnings.map(\.description).contains { $0.hasSuffix("[web] https_insecure: not set, and Glance's default (True) leaves https servers unverified; set it to False") })
        #expect(try http("storefs_index_url = https://h.example/i/\nhttps_insecure = false").get().warnings.isEmpty)
        guard case .failure(let bad) = try http("storefs_index_url = ftp://h.example/\nhttp_proxy_information = http:nohost\nhttps_ca_certificates_file = /nonexistent/ca.pem") else {
            Issue.record("bad http options must fail"); return
        }
        let messages = bad.errors.map(\.description)
        #expect(messages.contains { $0.hasSuffix("[web] storefs_index_url: 'ftp://h.example/' is not an http:// or https:// URL") })
        #expect(messages.contains { $0.hasSuffix("[web] http_proxy_information: 'http:nohost': a proxy is HOST:PORT") })
        #expect(messages.contains { $0.hasSuffix("[web] https_ca_certificates_file: /nonexistent/ca.pem: No such file or directory") })
        let proxied = try http("storefs_index_url = http://h.example/i/\nhttp_proxy_information = http:10.0.0.1:3128, https:proxy.example:8443").get()
        #expect(proxied.store("web")?.http?.proxies["https"] == HTTPStoreSettings.ProxyAddress(host: "proxy.example", port: 8443))
    }
}
