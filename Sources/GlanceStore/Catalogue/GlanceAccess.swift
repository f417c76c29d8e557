import AsyncHTTPClient
import Foundation
import GlanceConfig
import NIOCore
import NIOHTTP1

/// A token of the service user (none when Glance runs without Keystone) and Glance's endpoint.
struct GlanceAccess: Sendable, Equatable {
    let token: String?
    /// Glance's root URL, without a trailing `/` or version (`http://controller:9292`).
    let endpoint: String
    let expires: ContinuousClock.Instant?
    let issued = ContinuousClock.now

    var expiresSoon: Bool { GlanceStore.expiresSoon(expires, issued: issued) }
}

/// Keystone as keystoneauth's password plugin uses it for glance-api's `[keystone_authtoken]`: the v3
/// API discovered at `auth_url` (usually unversioned), a project-scoped token, and the `image`
/// endpoint of the catalogue for the configured interface (else internal, then public) and region.
struct KeystoneLogin: Sendable {
    let settings: CatalogueSettings
    let client: HTTPClient

    func access() async throws(StoreError) -> GlanceAccess {
        guard let authURL = settings.authURL, let credentials = settings.credentials else {
            if let url = settings.glanceURL { return GlanceAccess(token: nil, endpoint: Self.root(url), expires: nil) }
            throw .badStoreConfiguration(store: "catalogue", reason: settings.unusableReason ?? "no Glance to ask")
        }
        let v3 = try await discoverV3(authURL)
        func ref(_ domain: KeystoneCredentials.DomainRef) -> KeystonePassword.Ref {
            switch domain { case .id(let id): .id(id); case .name(let name): .name(name) }
        }
        let user = credentials.userID.map { KeystonePassword.Scope(ref: .id($0)) }
            ?? KeystonePassword.Scope(ref: .name(credentials.username ?? ""), domain: ref(credentials.userDomain))
        let project = credentials.projectID.map { KeystonePassword.Scope(ref: .id($0)) }
            ?? credentials.projectName.map { KeystonePassword.Scope(ref: .name($0), domain: ref(credentials.projectDomain)) }
        let login = KeystonePassword(user: user, password: credentials.password, project: project)
        let token = try await login.login(v3: v3, client: client, timeout: .milliseconds(Int64(settings.timeout * 1000))) {
            .forbidden("authentication of \(credentials) at \(authURL) refused (HTTP \($0)): check [keystone_authtoken] username, password and project_name")
        }
        let endpoint: String
        if let url = settings.glanceURL { endpoint = Self.root(url) } else {
            endpoint = try imageEndpoint(in: token.catalog, authURL: authURL)
        }
        return GlanceAccess(token: token.id, endpoint: endpoint, expires: token.expires)
    }

    /// The v3 API's URL: `auth_url` itself when it names it, else from the version document there.
    private func discoverV3(_ authURL: String) async throws(StoreError) -> String {
        let trimmed = authURL.hasSuffix("/") ? String(authURL.dropLast()) : authURL
        if trimmed.hasSuffix("/v3") { return trimmed }
        let (_, _, data) = try await send(HTTPClientRequest(url: trimmed), what: "discovering Keystone's API at \(authURL)")
        if let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any] {
            var entries: [[String: Any]] = []
            if let versions = json["versions"] as? [String: Any] { entries = (versions["values"] as? [[String: Any]]) ?? [] }
            if let version = json["version"] as? [String: Any] { entries = [version] }
            for entry in entries where (entry["id"] as? String)?.hasPrefix("v3") == true {
                for link in (entry["links"] as? [[String: Any]]) ?? [] where link["rel"] as? String == "self" {
                    if let href = link["href"] as? String { return href.hasSuffix("/") ? String(href.dropLast()) : href }
                }
            }
        }
        // A v2.0 URL or no version document: v3 beside it, as keystoneauth tries.
        if trimmed.hasSuffix("/v2.0") { return String(trimmed.dropLast(5)) + "/v3" }
        return trimmed + "/v3"
    }

    private func imageEndpoint(in catalog: [[String: Any]], authURL: String) throws(StoreError) -> String {
        let interfaces = settings.interface.map { [$0] } ?? ["internal", "public"]
        if let url = KeystonePassword.endpoint(in: catalog, type: "image", interfaces: interfaces, region: settings.region) {
            return Self.root(url)
        }
        throw .badStoreConfiguration(store: "catalogue", reason:
            "Keystone's catalogue at \(authURL) has no \(interfaces.joined(separator: " or ")) endpoint of type image"
            + (settings.region.map { " in region \($0)" } ?? "") + " (give Glance's URL with --glance-url)")
    }

    /// Glance's root: the catalogue's URL may end in `/` or name `/v2`.
    static func root(_ url: String) -> String {
        var text = url
        while text.hasSuffix("/") { text.removeLast() }
        if text.hasSuffix("/v2") { text.removeLast(3) }
        return text
    }

    func send(_ request: HTTPClientRequest, what: String) async throws(StoreError) -> (Int, HTTPHeaders, Data) {
        do {
            let response = try await client.execute(request, timeout: .milliseconds(Int64(settings.timeout * 1000)))
            let body = try await response.body.collect(upTo: 256 << 20)
            return (Int(response.status.code), response.headers, Data(body.readableBytesView))
        } catch {
            throw HTTPClients.map(error, what: what)
        }
    }
}
