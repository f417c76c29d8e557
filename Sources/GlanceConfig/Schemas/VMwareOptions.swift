/// `gs/_drivers/vmware_datastore.py:55-235`.
public enum VMwareOptions {
    /// Glance's HostAddress; glance-storefs also takes `host:port` (`[v6]:port`), which Glance's type refuses.
    public static let serverHost = Option<String?>(
        name: "vmware_server_host", kind: .hostAddress, defaultValue: nil, isSecret: false, deprecatedNames: []
    ) { raw throws(OptionValueError) in try OptionParsing.hostAndPort(raw.last!) }
    public static let serverUsername = Option<String?>.string("vmware_server_username")
    public static let serverPassword = Option<String?>.string("vmware_server_password", secret: true)
    public static let apiRetryCount = Option<Int?>.integer("vmware_api_retry_count", default: 10, min: 1)
    public static let taskPollInterval = Option<Int?>.integer("vmware_task_poll_interval", default: 5, min: 1)
    public static let storeImageDir = Option<String?>.string("vmware_store_image_dir", default: "/openstack_glance")
    public static let insecure = Option<Bool>.bool("vmware_insecure", default: false, deprecatedNames: ["vmware_api_insecure"])
    public static let caFile = Option<String?>.string("vmware_ca_file")
    /// `dc_path:ds_name[:weight]`, one per line or occurrence.
    public static let datastores = Option<[String]?>.multiString("vmware_datastores")

    /// glance-storefs: seconds to connect to vCenter or wait for an answer before a try fails.
    public static let timeout = HTTPOptions.timeout

    public static let all: [AnyOption] = [
        serverHost.erased, serverUsername.erased, serverPassword.erased, apiRetryCount.erased,
        taskPollInterval.erased, storeImageDir.erased, insecure.erased, caFile.erased, datastores.erased,
        timeout.erased,
    ]
}
