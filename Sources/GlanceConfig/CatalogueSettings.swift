import Foundation

/// How to reach Glance's API for its catalogue: as the service user of `[keystone_authtoken]`, the
/// image endpoint from Keystone's catalogue, unless a URL is given (`--glance-url`, `-o glance_url=`).
/// Glance's catalogue is optional for the mount: when it cannot be reached the mount works without it.
public struct CatalogueSettings: Sendable, Equatable {
    /// Keystone's address as written (usually unversioned: the v3 API is discovered there).
    public var authURL: String?
    public var credentials: KeystoneCredentials?
    public var region: String?
    /// The catalogue's interface; nil: internal, then public.
    public var interface: String?
    public var caFile: String?
    public var insecure: Bool
    /// Glance's own URL (its root, e.g. http://controller:9292): skips Keystone's catalogue.
    public var glanceURL: String?
    /// Seconds to connect or wait for an answer (a page of 1,000 images takes Glance well under one).
    public var timeout: Double = 10

    public init(authURL: String? = nil, credentials: KeystoneCredentials? = nil, region: String? = nil, interface: String? = nil,
                caFile: String? = nil, insecure: Bool = false, glanceURL: String? = nil) {
        self.authURL = authURL
        self.credentials = credentials
        self.region = region
        self.interface = interface
        self.caFile = caFile
        self.insecure = insecure
        self.glanceURL = glanceURL
    }

    /// Why the catalogue cannot be asked (nil: it can): a line for the log or `audit`.
    public var unusableReason: String? {
        if glanceURL != nil { return nil }
        guard authURL != nil else {
            return "[\(KeystoneAuthtokenOptions.section)] auth_url is not set and no Glance URL was given (--glance-url / -o glance_url=)"
        }
        guard credentials != nil else {
            return "[\(KeystoneAuthtokenOptions.section)] needs username (or user_id) and password to ask Glance's catalogue"
        }
        return nil
    }
}

/// A Keystone v3 password identity scoped to a project. `description` never shows the password.
public struct KeystoneCredentials: Sendable, Equatable, CustomStringConvertible {
    public var username: String?
    public var userID: String?
    public var password: String
    public var userDomain: DomainRef
    public var projectName: String?
    public var projectID: String?
    public var projectDomain: DomainRef

    public enum DomainRef: Sendable, Equatable {
        case id(String), name(String)
    }

    public var description: String {
        "\(username ?? userID ?? "?") in project \(projectName ?? projectID ?? "(unscoped)")"
    }
}

extension CatalogueSettings {
    static func resolve(_ source: ConfigSource, diagnostics d: inout Diagnostics) -> CatalogueSettings {
        typealias O = KeystoneAuthtokenOptions
        let section = source.section(O.section)
        func read<V>(_ option: Option<V>) -> Resolved<V> { section.read(option, into: &d) }
        func text(_ option: Option<String?>) -> String? { read(option).value.flatMap { $0.isEmpty ? nil : $0 } }

        let auth = read(O.authURL)
        var authURL = auth.value.flatMap { $0.isEmpty ? nil : $0 }
        if let url = authURL, !CinderStoreSettings.isHTTPURL(url) {
            d.error(at: auth.location ?? section.location, section: O.section, option: O.authURL.name,
                    "'\(url)' is not an http:// or https:// URL")
            authURL = nil
        }
        let interface = read(O.interface)
        var interfaceName = interface.value.flatMap { $0.isEmpty ? nil : $0 }.map { $0.replacingOccurrences(of: "URL", with: "") }
        if let name = interfaceName, !["public", "internal", "admin"].contains(name) {
            d.error(at: interface.location ?? section.location, section: O.section, option: O.interface.name,
                    "'\(name)' is not an endpoint interface (public, internal or admin)")
            interfaceName = nil
        }
        var credentials: KeystoneCredentials?
        if let password = text(O.password), text(O.username) != nil || text(O.userID) != nil {
            func domain(_ id: Option<String?>, _ name: Option<String?>) -> KeystoneCredentials.DomainRef {
                if let id = text(id) { return .id(id) }
                return .name(text(name) ?? "Default")
            }
            credentials = KeystoneCredentials(
                username: text(O.username), userID: text(O.userID), password: password,
                userDomain: domain(O.userDomainID, O.userDomainName),
                projectName: text(O.projectName), projectID: text(O.projectID),
                projectDomain: domain(O.projectDomainID, O.projectDomainName))
        }
        return CatalogueSettings(authURL: authURL, credentials: credentials, region: text(O.regionName),
                                 interface: interfaceName, caFile: text(O.cafile), insecure: read(O.insecure).value)
    }
}
