import Foundation
import Testing
@testable import GlanceConfig

@Suite struct CatalogueSettingsTests {
    @Test func theServiceCredentialsOfKeystoneAuthtokenAreRead() throws {
        let f = ConfigFixture()
        let c = try f.configuration(f.validConfig("""
            [keystone_authtoken]
            www_authenticate_uri = http://controller:5000
            auth_url = http://controller:5000
            auth_type = password
            project_domain_name = Default
            user_domain_id = default
            project_name = service
            username = glance
            password = s3cr3t-glance
            region_name = RegionTwo
            interface = internalURL
            memcached_servers = controller:11211
            """))
        let s = c.catalogue
        #expect(s.authURL == "http://controller:5000")
        #expect(s.region == "RegionTwo")
        #expect(s.interface == "internal")
        #expect(s.unusableReason == nil)
        let credentials = try #require(s.credentials)
        #expect(credentials.username == "glance" && credentials.password == "s3cr3t-glance")
        #expect(credentials.userDomain == .id("default"))
        #expect(credentials.projectDomain == .name("Default"))
        #expect(credentials.projectName == "service")
        #expect(!"\(credentials)".contains("s3cr3t"))
    }

    @Test func withoutCredentialsTheCatalogueIsOffAndSaysWhy() throws {
        let f = ConfigFixture()
        let none = try f.configuration(f.validConfig())
        #expect(none.catalogue.unusableReason?.contains("auth_url is not set") == true)
        let noPassword = try f.configuration(f.validConfig("[keystone_authtoken]\nauth_url = http://k:5000\nusername = glance\n"))
        #expect(noPassword.catalogue.unusableReason?.contains("username (or user_id) and password") == true)
        // Glance's URL given on the command line is enough (a Glance without Keystone).
        var given = none.catalogue
        given.glanceURL = "http://127.0.0.1:9292"
        #expect(given.unusableReason == nil)
    }

    @Test func badValuesAreOneLineErrorsNamingTheOption() throws {
        let f = ConfigFixture()
        let errors = try f.errors(f.validConfig("""
            [keystone_authtoken]
            auth_url = controller:5000
            interface = private
            password = never-shown
            """))
        #expect(errors.count == 2, "\(errors)")
        #expect(errors.contains { $0.description.contains("[keystone_authtoken] auth_url:") && $0.description.contains("not an http") })
        #expect(errors.contains { $0.description.contains("[keystone_authtoken] interface:") })
        #expect(!errors.contains { $0.description.contains("never-shown") })
    }
}
