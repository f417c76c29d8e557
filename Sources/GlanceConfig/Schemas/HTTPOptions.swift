/// `gs/_drivers/http.py:36-95`, plus our own listing option (Glance ignores unknown options).
public enum HTTPOptions {
    public static let caCertificatesFile = Option<String?>.string("https_ca_certificates_file")
    public static let insecure = Option<Bool>.bool("https_insecure", default: true)
    public static let proxyInformation = Option<OrderedPairs>.dict("http_proxy_information")
    /// glance-storefs: index pages (HTML autoindex or nginx JSON) whose entries are the store's images.
    public static let indexURL = Option<[String]?>.multiString("storefs_index_url")
    /// glance-storefs: seconds to connect, or to wait for data, before a try fails (3 tries, then EIO).
    public static let timeout = Option<Int?>.integer("storefs_timeout", default: 10, min: 1, max: 3600)

    public static let all: [AnyOption] = [
        caCertificatesFile.erased, insecure.erased, proxyInformation.erased, indexURL.erased, timeout.erased,
    ]
}
