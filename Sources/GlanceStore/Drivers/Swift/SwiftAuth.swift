import AsyncHTTPClient
import Foundation
import GlanceConfig
import NIOCore
import NIOHTTP1
import Synchronization

/// A token and the storage URL it is for.
struct SwiftSession: Sendable, Equatable {
    let token: String
    let storageURL: String
    /// When the token stops working, when the auth service said so.
    let expires: ContinuousClock.Instant?
    let issued = ContinuousClock.now

    /// Close enough to expiry to renew first: Glance's 60 s, or half the lifetime of short-lived tokens.
    var expiresSoon: Bool { GlanceStore.expiresSoon(expires, issued: issued, margin: SwiftAuth.expireSoon) }
}

/// Authentication as swiftclient does it for Glance: v1 (tempauth/swauth: GET with X-Auth-User and
/// X-Auth-Key), v2 and v3 (Keystone password, the storage URL from the catalog by service type,
/// region and endpoint type, unless `swift_store_endpoint` names it). One token at a time, shared by
/// every request; renewed once for everyone when a request gets 401 or when it is about to expire.
final class SwiftAuth: Sendable {
    let settings: SwiftStoreSettings
    private let client: HTTPClient
    private let shared: SharedCredential<SwiftSession>

    /// Glance's `swift_store_expire_soon_interval`: a token this close to expiry is renewed first.
    static let expireSoon: Duration = .seconds(60)

    init(settings: SwiftStoreSettings, client: HTTPClient) {
        self.settings = settings
        self.client = client
        shared = SharedCredential(what: "authenticating at \(settings.credentials.authAddress)") { $0.expiresSoon }
    }

    /// The token in use, if any (for tests and diagnostics).
    var currentToken: String? { shared.current?.token }

    /// The current session, authenticating first when there is none or it is about to expire.
    func session() async throws(StoreError) -> SwiftSession {
        try await shared.value { () throws(StoreError) in try await self.authenticate() }
    }

    /// A new session, unless another caller already replaced `stale` (then that one).
    func renew(replacing stale: SwiftSession?) async throws(StoreError) -> SwiftSession {
        try await shared.renew(replacing: stale) { () throws(StoreError) in try await self.authenticate() }
    }

    private func authenticate() async throws(StoreError) -> SwiftSession {
        let c = settings.credentials
        switch c.authVersion {
        case "1": return try await authenticateV1(c)
        case "2": return try await authenticateV2(c)
        default: return try await authenticateV3(c)
        }
    }

    private func authenticateV1(_ c: SwiftCredentials) async throws(StoreError) -> SwiftSession {
        var request = HTTPClientRequest(url: c.authAddress)
        request.headers.add(name: "X-Auth-User", value: c.user)
        request.headers.add(name: "X-Auth-Key", value: c.key)
        let (status, headers, _) = try await send(request)
        guard (200..<300).contains(status), let token = headers.first(name: "X-Auth-Token"),
              let url = headers.first(name: "X-Storage-Url") else {
            throw Self.failure(status, c)
        }
        let expires = headers.first(name: "X-Auth-Token-Expires").flatMap(Double.init).map {
            ContinuousClock.now + .milliseconds(Int64($0 * 1000))
        }
        return SwiftSession(token: token, storageURL: settings.endpoint ?? url, expires: expires)
    }

    private func authenticateV2(_ c: SwiftCredentials) async throws(StoreError) -> SwiftSession {
        let (project, user) = Self.split(c.user)
        let body: [String: Any] = ["auth": ["tenantName": project, "passwordCredentials": ["username": user, "password": c.key]]]
        let (status, _, data) = try await post(Self.join(c.authAddress, "tokens"), body)
        guard status == 200, let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let access = json["access"] as? [String: Any], let token = access["token"] as? [String: Any],
              let id = token["id"] as? String else { throw Self.failure(status, c) }
        let catalog = (access["serviceCatalog"] as? [[String: Any]]) ?? []
        let type = settings.endpointType
        let url = try self.endpoint(in: catalog) { endpoint in
            (endpoint[type] as? String, endpoint["region"] as? String)
        }
        return SwiftSession(token: id, storageURL: url, expires: Self.expiry(token["expires"] as? String))
    }

    private func authenticateV3(_ c: SwiftCredentials) async throws(StoreError) -> SwiftSession {
        let (project, user) = Self.split(c.user)
        func domain(id: String?, name: String?) -> KeystonePassword.Ref { id.map { .id($0) } ?? .name(name ?? "default") }
        let login = KeystonePassword(
            user: .init(ref: .name(user), domain: domain(id: c.userDomainID, name: c.userDomainName)), password: c.key,
            project: .init(ref: .name(project), domain: domain(id: c.projectDomainID, name: c.projectDomainName)))
        let token = try await login.login(v3: c.authAddress, client: client, timeout: .milliseconds(Int64(settings.timeout * 2000))) {
            Self.failure($0, c)
        }
        let interface = settings.endpointType.replacingOccurrences(of: "URL", with: "")  // publicURL -> public
        guard let url = settings.endpoint ?? KeystonePassword.endpoint(
            in: token.catalog, type: settings.serviceType, interfaces: [interface], region: settings.region) else { throw noEndpoint }
        return SwiftSession(token: token.id, storageURL: url, expires: token.expires)
    }

    private var noEndpoint: StoreError {
        .badStoreConfiguration(store: "swift", reason:
            "the catalog of \(settings.credentials.authAddress) has no \(settings.endpointType) endpoint of type \(settings.serviceType)"
            + (settings.region.map { " in region \($0)" } ?? ""))
    }

    /// The object-store endpoint of a Keystone catalog, as swiftclient picks it.
    private func endpoint(in catalog: [[String: Any]],
                          _ urlAndRegion: ([String: Any]) -> (String?, String?)) throws(StoreError) -> String {
        if let configured = settings.endpoint { return configured }
        for service in catalog where service["type"] as? String == settings.serviceType {
            for endpoint in (service["endpoints"] as? [[String: Any]]) ?? [] {
                let (url, region) = urlAndRegion(endpoint)
                if let url, settings.region == nil || settings.region == region { return url }
            }
        }
        throw noEndpoint
    }

    private func post(_ url: String, _ body: [String: Any]) async throws(StoreError) -> (Int, HTTPHeaders, Data) {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        let data = (try? JSONSerialization.data(withJSONObject: body)) ?? Data()
        request.body = .bytes(ByteBuffer(bytes: data))
        return try await send(request)
    }

    private func send(_ request: HTTPClientRequest) async throws(StoreError) -> (Int, HTTPHeaders, Data) {
        do {
            let response = try await client.execute(request, timeout: .milliseconds(Int64(settings.timeout * 2000)))
            let body = try await response.body.collect(upTo: 16 << 20)
            return (Int(response.status.code), response.headers, Data(body.readableBytesView))
        } catch {
            throw HTTPClients.map(error, what: "authenticating at \(settings.credentials.authAddress)")
        }
    }

    private static func failure(_ status: Int, _ c: SwiftCredentials) -> StoreError {
        if status == 401 || status == 403 {
            return .forbidden("authentication of \(c.user) at \(c.authAddress) refused (HTTP \(status)): check the user and key")
        }
        return .remoteServiceUnavailable("authenticating at \(c.authAddress): HTTP \(status)")
    }

    static func split(_ user: String) -> (project: String, user: String) {
        guard let colon = user.firstIndex(of: ":") else { return ("", user) }
        return (String(user[..<colon]), String(user[user.index(after: colon)...]))
    }

    static func join(_ base: String, _ path: String) -> String {
        (base.hasSuffix("/") ? String(base.dropLast()) : base) + "/" + path
    }

    static func expiry(_ text: String?) -> ContinuousClock.Instant? { KeystonePassword.expiry(text) }
}
