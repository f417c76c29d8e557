import Foundation
import Testing
@testable import GlanceConfig

@Suite struct VMwareSettingsTests {
    func config(_ f: ConfigFixture, _ options: String) -> String {
        f.validConfig("[vm]\n" + options + "\n", backends: "fast:file, vm:vmware")
    }

    static let login = """
        vmware_server_host = vcenter.example.org
        vmware_server_username = glance@vsphere.local
        vmware_server_password = vc-s3cr3t-pw
        vmware_datastores = Datacenter:datastore1
        """

    @Test func withoutLoginTheStoreIsRefusedInOneLine() throws {
        let f = ConfigFixture()
        let errors = try f.errors(config(f, "vmware_server_host = vcenter.example.org\nvmware_datastores = dc:ds"))
        try #require(errors.count == 1, "\(errors)")
        let line = errors[0].description
        #expect(!line.contains("\n"))
        #expect(line.contains("glance-api.conf"))
        #expect(line.contains("[vm] vmware_server_username:"))
        #expect(line.contains("missing: vmware_server_username, vmware_server_password"))
    }

    @Test func glancesMeaningOfEveryOption() throws {
        let f = ConfigFixture()
        let c = try f.configuration(config(f, """
            vmware_server_host = 10.0.0.5:8443
            vmware_server_username = glance
            vmware_server_password = vc-s3cr3t-pw
            vmware_api_retry_count = 3
            vmware_task_poll_interval = 2
            vmware_store_image_dir = /images/glance/
            vmware_api_insecure = true
            vmware_datastores = DC/sub:folder:ds-a:20
            vmware_datastores = DC:ds-b:
            vmware_datastores = DC:ds-c
            storefs_timeout = 4
            """))
        let s = try #require(c.store("vm")?.vmware)
        #expect(s.host == "10.0.0.5:8443")
        #expect(s.retryCount == 3 && s.taskPollInterval == 2 && s.timeout == 4)
        #expect(s.imageDirectory == "images/glance")
        #expect(s.insecure)  // by its deprecated name
        // Split from the right, as Glance: a datacenter path may hold ':'; an empty weight is 0.
        #expect(s.datastores == [.init(datacenterPath: "DC/sub:folder", name: "ds-a", weight: 20),
                                 .init(datacenterPath: "DC", name: "ds-b", weight: 0),
                                 .init(datacenterPath: "DC", name: "ds-c", weight: 0)])
        let d = try #require(try f.configuration(config(f, Self.login)).store("vm")?.vmware)
        #expect(d.retryCount == 10 && d.taskPollInterval == 5 && d.imageDirectory == "openstack_glance" && !d.insecure && d.caFile == nil)
    }

    @Test(arguments: [
        ("vmware_datastores = justone", "[vm] vmware_datastores: 'justone': must be datacenter_path:datastore_name"),
        ("vmware_datastores = dc:ds:heavy", "[vm] vmware_datastores: 'dc:ds:heavy': invalid weight 'heavy'"),
        ("vmware_datastores = :ds", "[vm] vmware_datastores: ':ds': empty datacenter_path or datastore_name"),
        ("vmware_server_host = vc.example.org:99999", "[vm] vmware_server_host: 'vc.example.org:99999': '99999' is not a port"),
        ("vmware_server_host = -bad-.example", "[vm] vmware_server_host:"),
        ("vmware_api_retry_count = 0", "[vm] vmware_api_retry_count:"),
        ("vmware_ca_file = /nonexistent/ca.pem", "[vm] vmware_ca_file: cannot read '/nonexistent/ca.pem'"),
    ])
    func badValuesAreOneLineErrorsNamingTheOption(_ line: String, _ expected: String) throws {
        let f = ConfigFixture()
        // The option given last wins: the bad value replaces the good one of `login`.
        let errors = try f.errors(config(f, Self.login + "\n" + line))
        try #require(!errors.isEmpty, "\(line) was accepted")
        #expect(errors.contains { $0.description.contains(expected) && !$0.description.contains("\n") }, "\(errors)")
        #expect(!errors.contains { $0.description.contains("vc-s3cr3t-pw") })
    }

    @Test func withoutDatastoresTheStoreIsRefused() throws {
        let f = ConfigFixture()
        let errors = try f.errors(config(f, "vmware_server_host = vc\nvmware_server_username = u\nvmware_server_password = p"))
        #expect(errors.count == 1 && errors[0].description.contains("[vm] vmware_datastores: not set"), "\(errors)")
    }

    @Test(arguments: ["vc.example.org", "10.1.2.3", "10.1.2.3:443", "[fd00::5]:8443", "fd00::5", "vc.example.org:8443"])
    func hostsWithAndWithoutPort(_ host: String) throws {
        #expect(try OptionParsing.hostAndPort(host) == host)
    }
}
