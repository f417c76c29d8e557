import Foundation
import Testing
@testable import GlanceConfig

/// A swift store's credentials and options: Glance's meaning, and a one-line error naming file,
/// section and option for each bad input (the reference file's own file and section when it is there).
struct SwiftSettingsTests {
    let backends = "fast:file, slow:file, sw:swift"

    func swiftErrors(_ f: ConfigFixture, _ options: String) throws -> [Diagnostic] {
        try f.errors(f.validConfig("[sw]\n" + options, backends: backends))
    }

    @Test func referencesFromGlancesConfigFile() throws {
        let f = ConfigFixture()
        f.write("glance-swift.conf", """
            [DEFAULT]
            auth_version = 3
            [ref1]
            auth_address = 'https://keystone.example:5000/v3'
            user = services:glance
            key = s3cr3t
            user_domain_name = Users
            [ref2]
            auth_address = http://127.0.0.1:8080/auth/v1.0
            User = test:tester
            key = testing
            auth_version = 1
            """)
        // Relative to the directory of the file that names it, as oslo's find_file.
        let c = try f.configuration(f.validConfig("[sw]\nswift_store_config_file = glance-swift.conf\ndefault_swift_reference = ref2\n", backends: backends))
        let s = try #require(c.store("sw")?.swift)
        #expect(s.usesConfigFile && s.reference == "ref2")
        #expect(s.credentials.authAddress == "http://127.0.0.1:8080/auth/v1.0" && s.credentials.user == "test:tester")
        #expect(s.credentials.authVersion == "1" && s.container == "glance" && s.containerSeed == 0)
        #expect(s.largeObjectSize == 5120 * 1_024_000 && s.largeObjectChunkSize == 200 * 1_024_000)
        let v3 = try #require(try f.configuration(f.validConfig("[sw]\nswift_store_config_file = glance-swift.conf\n", backends: backends)).store("sw")?.swift)
        #expect(v3.credentials.authAddress == "https://keystone.example:5000/v3")  // quotes stripped, as Glance's parser
        #expect(v3.credentials.authVersion == "3")  // [DEFAULT] of the file applies to every reference
        #expect(v3.credentials.userDomainName == "Users" && v3.credentials.userDomainID == nil)
        #expect(v3.credentials.projectDomainID == "default")
        #expect(!"\(v3.credentials)".contains("s3cr3t") && !"\(v3.credentials)".contains("glance"))
    }

    @Test func inlineCredentialsAreGlancesDeprecatedOnes() throws {
        let f = ConfigFixture()
        let c = try f.configuration(f.validConfig("""
            [sw]
            swift_store_auth_address = http://127.0.0.1:8080/auth/v1.0
            swift_store_user = test:tester
            swift_store_key = testing
            swift_store_auth_version = 1
            swift_store_large_object_size = 3
            swift_store_multiple_containers_seed = 2

            """, backends: backends))
        let s = try #require(c.store("sw")?.swift)
        #expect(!s.usesConfigFile && s.credentials.authVersion == "1" && s.largeObjectSize == 3_072_000 && s.containerSeed == 2)
    }

    @Test func multiTenantIsRefused() throws {
        let f = ConfigFixture()
        let errors = try swiftErrors(f, "swift_store_multi_tenant = true\nswift_store_auth_address = http://h/v3\nswift_store_user = p:u\nswift_store_key = k\n")
        #expect(errors.count == 1)
        let line = try #require(errors.first).description
        #expect(line.contains("glance-api.conf") && line.contains("[sw] swift_store_multi_tenant: ") && line.contains("per-user") == false && line.contains("a mount has no such context"))
    }

    @Test func missingCredentials() throws {
        let f = ConfigFixture()
        let errors = try swiftErrors(f, "swift_store_user = p:u\nswift_store_key = s3cr3t\n")
        #expect(errors.count == 1)
        let line = try #require(errors.first).description
        #expect(line.contains("[sw] swift_store_config_file: ") && line.contains("swift_store_auth_address") && !line.contains("s3cr3t"))
    }

    @Test func referenceFileProblemsNameTheirFileSectionAndOption() throws {
        let f = ConfigFixture()
        var errors = try swiftErrors(f, "swift_store_config_file = /nonexistent/glance-swift.conf\n")
        #expect(errors.count == 1 && errors[0].option == "swift_store_config_file" && errors[0].description.contains("/nonexistent/glance-swift.conf: No such file"))

        let refs = f.write("refs.conf", "[other]\nauth_address = http://h/v3\nuser = p:u\nkey = s3cr3t\n")
        errors = try swiftErrors(f, "swift_store_config_file = \(refs)\n")
        #expect(errors.count == 1 && errors[0].option == "default_swift_reference" && errors[0].description.contains("'ref1' is not a section of \(refs) (sections: other)"))

        f.write("refs.conf", "[ref1]\nauth_address = http://h/v3\nuser = p:u\n")
        errors = try swiftErrors(f, "swift_store_config_file = \(refs)\n")
        #expect(errors.count == 1 && errors[0].location.file == refs && errors[0].section == "ref1" && errors[0].option == "key")

        f.write("refs.conf", "[ref1]\nauth_address = keystone:5000\nuser = glance\nkey = s3cr3t\nauth_version = 4\n")
        errors = try swiftErrors(f, "swift_store_config_file = \(refs)\n")
        let lines = errors.map(\.description)
        #expect(lines.contains { $0.hasPrefix(refs + ":5: [ref1] auth_version: '4'") })
        #expect(lines.contains { $0.hasPrefix(refs + ":2: [ref1] auth_address: 'keystone:5000' is not an http:// or https:// URL") })
        #expect(!lines.joined().contains("s3cr3t"))

        f.write("refs.conf", "[ref1]\nauth_address = http://h/v3\nuser = glance\nkey = s3cr3t\nauth_version = 3\n")
        errors = try swiftErrors(f, "swift_store_config_file = \(refs)\n")
        #expect(errors.count == 1 && errors[0].option == "user" && errors[0].description.contains("'project:user'"))
    }

    @Test func containerAndCACertificate() throws {
        let f = ConfigFixture()
        let credentials = "swift_store_auth_address = http://h/v3\nswift_store_user = p:u\nswift_store_key = k\n"
        var errors = try swiftErrors(f, credentials + "swift_store_container = a/b\n")
        #expect(errors.count == 1 && errors[0].option == "swift_store_container")
        errors = try swiftErrors(f, credentials + "swift_store_cacert = /nonexistent/ca.pem\n")
        #expect(errors.count == 1 && errors[0].option == "swift_store_cacert" && errors[0].description.contains("No such file"))
    }
}
