/// `gs/_drivers/cinder.py:62-408`.
public enum CinderOptions {
    public static let catalogInfo = Option<String?>.string("cinder_catalog_info", default: "volumev3::publicURL")
    public static let endpointTemplate = Option<String?>.string("cinder_endpoint_template")
    public static let regionName = Option<String?>.string("cinder_os_region_name", deprecatedNames: ["os_region_name"])
    public static let caCertificatesFile = Option<String?>.string("cinder_ca_certificates_file")
    public static let httpRetries = Option<Int?>.integer("cinder_http_retries", default: 3, min: 0)
    public static let stateTransitionTimeout = Option<Int?>.integer(
        "cinder_state_transition_timeout", default: 300, min: 0)
    public static let apiInsecure = Option<Bool>.bool("cinder_api_insecure", default: false)
    public static let authAddress = Option<String?>.string("cinder_store_auth_address")
    public static let userName = Option<String?>.string("cinder_store_user_name")
    public static let userDomainName = Option<String?>.string("cinder_store_user_domain_name", default: "Default")
    public static let password = Option<String?>.string("cinder_store_password", secret: true)
    public static let projectName = Option<String?>.string("cinder_store_project_name")
    public static let projectDomainName = Option<String?>.string(
        "cinder_store_project_domain_name", default: "Default")
    public static let rootwrapConfig = Option<String?>.string("rootwrap_config", default: "/etc/glance/rootwrap.conf")
    public static let volumeType = Option<String?>.string("cinder_volume_type")
    public static let enforceMultipath = Option<Bool>.bool("cinder_enforce_multipath", default: false)
    public static let useMultipath = Option<Bool>.bool("cinder_use_multipath", default: false)
    public static let mountPointBase = Option<String?>.string("cinder_mount_point_base", default: "/var/lib/glance/mnt")

    /// glance-storefs: seconds to connect to Keystone or Cinder, or to wait for an answer, before a try
    /// fails (waits for a volume to change state are bounded by `cinder_state_transition_timeout`).
    public static let timeout = HTTPOptions.timeout

    public static let all: [AnyOption] = [
        catalogInfo.erased, endpointTemplate.erased, regionName.erased, caCertificatesFile.erased,
        httpRetries.erased, stateTransitionTimeout.erased, apiInsecure.erased, authAddress.erased,
        userName.erased, userDomainName.erased, password.erased, projectName.erased,
        projectDomainName.erased, rootwrapConfig.erased, volumeType.erased, enforceMultipath.erased,
        useMultipath.erased, mountPointBase.erased, timeout.erased,
    ]
}
