import AsyncHTTPClient
import Foundation
import GlanceConfig
import NIOCore

/// A Keystone v3 token of the store's own user (`cinder_store_*`), scoped to its project, and the Cinder
/// endpoint it leads to: `cinder_endpoint_template` with the project's id, else the catalog's
/// endpoint of `cinder_catalog_info` in `cinder_os_region_name`.
struct CinderToken: Sendable, Equatable {
    let token: String
    let projectID: String
    let endpoint: String
    let expires: ContinuousClock.Instant?
    let issued = ContinuousClock.now

    /// Renewed a minute before expiry (half the lifetime of short-lived tokens).
    var expiresSoon: Bool { GlanceStore.expiresSoon(expires, issued: issued) }
}

/// One token at a time, shared by every request of the store; renewed once for everyone on 401 or
/// before expiry.
final class CinderSession: Sendable {
    let settings: CinderStoreSettings
    private let client: HTTPClient
    private let shared: SharedCredential<CinderToken>

    init(settings: CinderStoreSettings, client: HTTPClient) {
        self.settings = settings
        self.client = client
        shared = SharedCredential(what: "authenticating at \(settings.credentials.authAddress)") { $0.expiresSoon }
    }

    func token() async throws(StoreError) -> CinderToken {
        try await shared.value { () throws(StoreError) in try await self.authenticate() }
    }

    func renew(replacing stale: CinderToken?) async throws(StoreError) -> CinderToken {
        try await shared.renew(replacing: stale) { () throws(StoreError) in try await self.authenticate() }
    }

    private func authenticate() async throws(StoreError) -> CinderToken {
        let c = settings.credentials
        let login = KeystonePassword(user: .init(ref: .name(c.userName), domain: .name(c.userDomainName)), password: c.password,
                                     project: .init(ref: .name(c.projectName), domain: .name(c.projectDomainName)))
        let token = try await login.login(v3: Self.v3(c.authAddress), client: client, timeout: .milliseconds(Int64(settings.timeout * 1000))) {
            .forbidden("authentication of \(c.userName) at \(c.authAddress) refused (HTTP \($0)): check cinder_store_user_name, cinder_store_password and cinder_store_project_name")
        }
        guard let project = token.projectID else {
            throw .remoteServiceUnavailable("authenticating at \(c.authAddress): the token names no project")
        }
        let endpoint: String
        if let template = settings.endpointTemplate {
            endpoint = Self.fill(template, project: project)
        } else if let url = KeystonePassword.endpoint(in: token.catalog, type: settings.serviceType, name: settings.serviceName,
                                                      interfaces: [settings.interface], region: settings.region) {
            endpoint = url
        } else {
            // Cinder's endpoint in the catalog, as cinderclient picks it for Glance: none there.
            throw .badStoreConfiguration(store: "cinder", reason:
                "the catalog of \(c.authAddress) has no \(settings.interface) endpoint of type \(settings.serviceType)"
                + (settings.serviceName.map { " named \($0)" } ?? "") + (settings.region.map { " in region \($0)" } ?? ""))
        }
        return CinderToken(token: token.id, projectID: project, endpoint: endpoint, expires: token.expires)
    }

    static func fill(_ template: String, project: String) -> String {
        template.replacingOccurrences(of: "%(tenant)s", with: project).replacingOccurrences(of: "%(project_id)s", with: project)
    }

    /// Glance's `cinder_store_auth_address` is Keystone's root or its /v3.
    static func v3(_ address: String) -> String {
        let trimmed = address.hasSuffix("/") ? String(address.dropLast()) : address
        return trimmed.hasSuffix("/v3") ? trimmed : trimmed + "/v3"
    }
}
