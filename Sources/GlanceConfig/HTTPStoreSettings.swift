import Foundation

/// An http store's options, resolved: Glance's TLS and proxy options with Glance's meaning, and our
/// `storefs_index_url` listing pages (Glance keeps one URL per image in its database; a mount needs a
/// listing, and Glance ignores options it does not know).
public struct HTTPStoreSettings: Sendable, Equatable {
    public var indexURLs: [String]
    /// `https_ca_certificates_file`: the CA bundle that verifies servers (when verification is on).
    public var caCertificatesFile: String?
    /// `https_insecure` (Glance's default: True): no verification of the server's certificate.
    public var insecure: Bool
    /// `http_proxy_information`: scheme → proxy.
    public var proxies: [String: ProxyAddress]
    /// `storefs_timeout`: seconds to connect or to wait for data before a try fails.
    public var timeout: Double

    public struct ProxyAddress: Sendable, Equatable {
        public let host: String
        public let port: Int
    }

    /// Reads and checks the options; `declaredAt` is where the store is declared (for warnings about
    /// options that are not set).
    static func resolve(section: ConfigSection, storeID: String, declaredAt: SourceLocation,
                        diagnostics d: inout Diagnostics) -> HTTPStoreSettings {
        var scratch = Diagnostics()  // values were type-checked already
        let urls = section.read(HTTPOptions.indexURL, into: &scratch)
        let ca = section.read(HTTPOptions.caCertificatesFile, into: &scratch)
        let insecure = section.read(HTTPOptions.insecure, into: &scratch)
        let proxyInfo = section.read(HTTPOptions.proxyInformation, into: &scratch)
        let timeout = section.read(HTTPOptions.timeout, into: &scratch)
        var settings = HTTPStoreSettings(indexURLs: [], caCertificatesFile: nil, insecure: insecure.value, proxies: [:],
                                         timeout: Double(timeout.value ?? 10))

        for url in urls.value ?? [] {
            guard let parsed = URL(string: url), let scheme = parsed.scheme?.lowercased(), ["http", "https"].contains(scheme),
                  parsed.host?.isEmpty == false else {
                d.error(at: urls.location ?? declaredAt, section: storeID, option: HTTPOptions.indexURL.name,
                        "'\(url)' is not an http:// or https:// URL")
                continue
            }
            settings.indexURLs.append(url)
        }
        if urls.value?.isEmpty ?? true {
            d.warning(at: declaredAt, section: storeID, option: HTTPOptions.indexURL.name,
                      "not set: Glance's http store has no listing of its own, so the store's directory is empty")
        }
        if let path = ca.value, !path.isEmpty {
            if access(path, R_OK) != 0 {
                d.error(at: ca.location ?? declaredAt, section: storeID, option: HTTPOptions.caCertificatesFile.name,
                        "\(path): \(String(cString: strerror(errno)))")
            }
            settings.caCertificatesFile = path
        }
        if insecure.value, settings.indexURLs.contains(where: { $0.lowercased().hasPrefix("https:") }) {
            d.warning(at: insecure.location ?? declaredAt, section: storeID, option: HTTPOptions.insecure.name,
                      insecure.isSet ? "true: https servers are not verified"
                                     : "not set, and Glance's default (True) leaves https servers unverified; set it to False")
        }
        for (scheme, value) in proxyInfo.value.pairs {
            var hostPort = value
            if let range = hostPort.range(of: "://") { hostPort = String(hostPort[range.upperBound...]) }
            hostPort = hostPort.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
            guard let colon = hostPort.lastIndex(of: ":"), let port = Int(hostPort[hostPort.index(after: colon)...]),
                  (1...65535).contains(port), colon != hostPort.startIndex else {
                d.error(at: proxyInfo.location ?? declaredAt, section: storeID, option: HTTPOptions.proxyInformation.name,
                        "'\(scheme):\(value)': a proxy is HOST:PORT")
                continue
            }
            settings.proxies[scheme.lowercased()] = ProxyAddress(host: String(hostPort[..<colon]), port: port)
        }
        return settings
    }
}
