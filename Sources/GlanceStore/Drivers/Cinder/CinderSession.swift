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
        let body: [String: Any] = ["auth": [
            "identity": ["methods": ["password"], "password": ["user": [
                "name": c.userName, "password": c.password, "domain": ["name": c.userDomainName]]]],
            "scope": ["project": ["name": c.projectName, "domain": ["name": c.projectDomainName]]],
        ]]
        var request = HTTPClientRequest(url: SwiftAuth.join(Self.v3(c.authAddress), "auth/tokens"))
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: (try? JSONSerialization.data(withJSONObject: body)) ?? Data()))
        let status: Int, subject: String?, data: Data
        do {
            let response = try await client.execute(request, timeout: .milliseconds(Int64(settings.timeout * 1000)))
            let bytes = try await response.body.collect(upTo: 16 << 20)
            status = Int(response.status.code)
            subject = response.headers.first(name: "X-Subject-Token")
            data = Data(bytes.readableBytesView)
        } catch {
            throw HTTPClients.map(error, what: "authenticating at \(c.authAddress)")
        }
        if status == 401 || status == 403 {
            throw .forbidden("authentication of \(c.userName) at \(c.authAddress) refused (HTTP \(status)): check cinder_store_user_name, cinder_store_password and cinder_store_project_name")
        }
        guard (200..<300).contains(status), let subject,
              let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let token = json["token"] as? [String: Any],
              let project = (token["project"] as? [String: Any])?["id"] as? String else {
            throw .remoteServiceUnavailable("authenticating at \(c.authAddress): HTTP \(status)")
        }
        let endpoint: String
        if let template = settings.endpointTemplate {
            endpoint = Self.fill(template, project: project)
        } else {
            endpoint = try self.endpoint(in: (token["catalog"] as? [[String: Any]]) ?? [])
        }
        return CinderToken(token: subject, projectID: project, endpoint: endpoint,
                           expires: SwiftAuth.expiry(token["expires_at"] as? String))
    }

    /// Cinder's endpoint in the catalog, as cinderclient picks it for Glance.
    private func endpoint(in catalog: [[String: Any]]) throws(StoreError) -> String {
        for service in catalog where service["type"] as? String == settings.serviceType {
            if let name = settings.serviceName, service["name"] as? String != name { continue }
            for endpoint in (service["endpoints"] as? [[String: Any]]) ?? [] where endpoint["interface"] as? String == settings.interface {
                let region = (endpoint["region_id"] as? String) ?? (endpoint["region"] as? String)
                if let url = endpoint["url"] as? String, settings.region == nil || settings.region == region { return url }
            }
        }
        throw .badStoreConfiguration(store: "cinder", reason:
            "the catalog of \(settings.credentials.authAddress) has no \(settings.interface) endpoint of type \(settings.serviceType)"
            + (settings.serviceName.map { " named \($0)" } ?? "") + (settings.region.map { " in region \($0)" } ?? ""))
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
