import Foundation
import Testing
@testable import GlanceConfig

@Suite struct CinderSettingsTests {
    func config(_ f: ConfigFixture, _ options: String) -> String {
        f.validConfig("[vols]\n" + options + "\n", backends: "fast:file, vols:cinder")
    }

    static let credentials = """
        cinder_store_auth_address = http://127.0.0.1:5000/v3
        cinder_store_user_name = glance
        cinder_store_password = s3cr3t-pw
        cinder_store_project_name = images
        """

    @Test func withoutCredentialsTheStoreIsRefusedInOneLine() throws {
        let f = ConfigFixture()
        let errors = try f.errors(config(f, "cinder_store_auth_address = http://127.0.0.1:5000/v3\ncinder_store_user_name = glance"))
        try #require(errors.count == 1, "\(errors)")
        let line = errors[0].description
        #expect(!line.contains("\n"))
        #expect(line.contains("glance-api.conf"))
        #expect(line.contains("[vols] cinder_store_password:"))
        #expect(line.contains("missing: cinder_store_password, cinder_store_project_name"))
    }

    @Test func glancesMeaningOfEveryOption() throws {
        let f = ConfigFixture()
        let c = try f.configuration(config(f, Self.credentials + """

            cinder_catalog_info = volumev3:cinderv3:internalURL
            cinder_os_region_name = RegionTwo
            cinder_http_retries = 5
            cinder_state_transition_timeout = 30
            cinder_api_insecure = true
            cinder_volume_type = fast-ssd
            cinder_store_user_domain_name = users
            cinder_store_project_domain_name = projects
            """))
        let s = try #require(c.store("vols")?.cinder)
        #expect(s.serviceType == "volumev3")
        #expect(s.serviceName == "cinderv3")
        #expect(s.interface == "internal")
        #expect(s.region == "RegionTwo")
        #expect(s.httpRetries == 5)
        #expect(s.stateTransitionTimeout == 30)
        #expect(s.insecure)
        #expect(s.volumeType == "fast-ssd")
        #expect(s.credentials.userDomainName == "users")
        #expect(s.credentials.projectDomainName == "projects")
        #expect(!s.credentials.description.contains("s3cr3t-pw"))
        // Defaults as Glance's.
        let d = try #require(try f.configuration(config(f, Self.credentials)).store("vols")?.cinder)
        #expect(d.serviceType == "volumev3" && d.serviceName == nil && d.interface == "public")
        #expect(d.httpRetries == 3 && d.stateTransitionTimeout == 300 && !d.insecure && d.volumeType == nil)
        #expect(d.credentials.userDomainName == "Default" && d.credentials.projectDomainName == "Default")
    }

    @Test(arguments: [("cinder_catalog_info = volumev3", "[vols] cinder_catalog_info: 'volumev3' is not"),
                      ("cinder_store_auth_address = keystone:5000", "[vols] cinder_store_auth_address: 'keystone:5000' is not an http"),
                      ("cinder_endpoint_template = cinder/v3/%(tenant)s", "[vols] cinder_endpoint_template:"),
                      ("cinder_ca_certificates_file = /nonexistent/ca.pem", "[vols] cinder_ca_certificates_file: cannot read"),
                      ("cinder_http_retries = -1", "[vols] cinder_http_retries:")])
    func badValuesAreNamed(_ option: String, _ expected: String) throws {
        let f = ConfigFixture()
        var text = Self.credentials
        if option.hasPrefix("cinder_store_auth_address") { text = text.replacingOccurrences(of: "cinder_store_auth_address = http://127.0.0.1:5000/v3", with: option) } else { text += "\n" + option }
        let errors = try f.errors(config(f, text))
        #expect(errors.count == 1, "\(errors)")
        #expect(errors.first?.description.contains(expected) == true, "\(errors)")
        #expect(errors.allSatisfy { !$0.description.contains("s3cr3t-pw") })
    }
}
