import Foundation

/// A cinder store's options, resolved with Glance's meaning (`gs/_drivers/cinder.py`). A mount has no
/// user's request context, so the store always authenticates as its own user (Glance's
/// `cinder_store_*` options, Keystone v3 password) and works in that user's project.
public struct CinderStoreSettings: Sendable, Equatable {
    public var credentials: CinderCredentials
    /// `cinder_catalog_info`: `<service_type>:<service_name>:<interface>` (name may be empty).
    public var serviceType: String
    public var serviceName: String?
    /// Keystone's interface name: `public`, `internal` or `admin` (Glance's `publicURL` style accepted).
    public var interface: String
    /// `cinder_endpoint_template`: Cinder's URL, `%(tenant)s` / `%(project_id)s` the project's id.
    public var endpointTemplate: String?
    public var region: String?
    public var caCertificate: String?
    public var insecure: Bool
    /// `cinder_http_retries`: tries after the first of a request that got no answer or a 5xx.
    public var httpRetries: Int
    /// `cinder_state_transition_timeout`: seconds a volume may take to become available, attached...
    public var stateTransitionTimeout: Int
    public var volumeType: String?
    /// `storefs_timeout` (ours): seconds to connect or wait for an answer before a try fails.
    public var timeout: Double
}

/// Who the store authenticates as. `description` never shows the password.
public struct CinderCredentials: Sendable, Equatable, CustomStringConvertible {
    public var authAddress: String
    public var userName: String
    public var userDomainName: String
    public var password: String
    public var projectName: String
    public var projectDomainName: String

    public var description: String { "\(userName) in project \(projectName) at \(authAddress)" }
}

extension CinderStoreSettings {
    static func resolve(section: ConfigSection, storeID: String, declaredAt: SourceLocation,
                        diagnostics d: inout Diagnostics) -> CinderStoreSettings {
        var scratch = Diagnostics()  // values were type-checked already
        func read<V>(_ option: Option<V>) -> Resolved<V> { section.read(option, into: &scratch) }
        func at<V>(_ r: Resolved<V>) -> SourceLocation { r.location ?? declaredAt }
        func text(_ option: Option<String?>) -> String? { read(option).value.flatMap { $0.isEmpty ? nil : $0 } }

        let required = [CinderOptions.authAddress, CinderOptions.userName, CinderOptions.password, CinderOptions.projectName]
        let missing = required.filter { text($0) == nil }.map(\.name)
        if !missing.isEmpty {
            d.error(at: declaredAt, section: storeID, option: missing[0],
                    "not set: a mount has no user's token, so the store authenticates as its own user; set \(required.map(\.name).joined(separator: ", ")) (missing: \(missing.joined(separator: ", ")))")
        }
        let address = read(CinderOptions.authAddress)
        if let url = address.value, !url.isEmpty, !Self.isHTTPURL(url) {
            d.error(at: at(address), section: storeID, option: CinderOptions.authAddress.name, "'\(url)' is not an http:// or https:// URL")
        }
        let catalog = read(CinderOptions.catalogInfo)
        let parts = (catalog.value ?? "volumev3::publicURL").split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        if parts.count != 3 || parts[0].isEmpty || parts[2].isEmpty {
            d.error(at: at(catalog), section: storeID, option: CinderOptions.catalogInfo.name,
                    "'\(catalog.value ?? "")' is not <service_type>:<service_name>:<interface> (e.g. volumev3::publicURL)")
        }
        let template = read(CinderOptions.endpointTemplate)
        if let url = template.value, !url.isEmpty, !Self.isHTTPURL(url.replacingOccurrences(of: "%(tenant)s", with: "p")
            .replacingOccurrences(of: "%(project_id)s", with: "p")) {
            d.error(at: at(template), section: storeID, option: CinderOptions.endpointTemplate.name, "'\(url)' is not an http:// or https:// URL")
        }
        let ca = read(CinderOptions.caCertificatesFile)
        if let file = ca.value, !file.isEmpty, !FileManager.default.isReadableFile(atPath: file) {
            d.error(at: at(ca), section: storeID, option: CinderOptions.caCertificatesFile.name, "cannot read '\(file)'")
        }
        let interface = parts.count == 3 ? parts[2] : "publicURL"
        return CinderStoreSettings(
            credentials: CinderCredentials(
                authAddress: text(CinderOptions.authAddress) ?? "", userName: text(CinderOptions.userName) ?? "",
                userDomainName: text(CinderOptions.userDomainName) ?? "Default", password: text(CinderOptions.password) ?? "",
                projectName: text(CinderOptions.projectName) ?? "", projectDomainName: text(CinderOptions.projectDomainName) ?? "Default"),
            serviceType: parts.first ?? "volumev3",
            serviceName: parts.count == 3 && !parts[1].isEmpty ? parts[1] : nil,
            interface: interface.hasSuffix("URL") ? String(interface.dropLast(3)) : interface,
            endpointTemplate: text(CinderOptions.endpointTemplate),
            region: text(CinderOptions.regionName),
            caCertificate: text(CinderOptions.caCertificatesFile),
            insecure: read(CinderOptions.apiInsecure).value,
            httpRetries: read(CinderOptions.httpRetries).value ?? 3,
            stateTransitionTimeout: read(CinderOptions.stateTransitionTimeout).value ?? 300,
            volumeType: text(CinderOptions.volumeType),
            timeout: Double(read(CinderOptions.timeout).value ?? 10))
    }

    static func isHTTPURL(_ text: String) -> Bool {
        let lower = text.lowercased()
        return (lower.hasPrefix("http://") || lower.hasPrefix("https://")) && URL(string: text)?.host != nil
    }
}
