import AsyncHTTPClient
import Foundation
import NIOCore

/// Keystone v3's password login, the one way here for every client of Keystone (the swift store's
/// auth v3, the cinder store's session, Glance's catalogue): the request keystoneauth's password plugin
/// sends, the subject token, and the token document each caller reads its endpoint from.
struct KeystonePassword: Sendable {
    enum Ref: Sendable, Equatable { case id(String), name(String) }

    /// A user or project by id, or by name within a domain (by id or name); an id needs no domain.
    struct Scope: Sendable, Equatable {
        let ref: Ref
        var domain: Ref? = nil
    }

    let user: Scope
    let password: String
    /// Nil: an unscoped token.
    let project: Scope?

    /// A token and what its document says.
    struct Token {
        let id: String
        let catalog: [[String: Any]]
        let projectID: String?
        let expires: ContinuousClock.Instant?
    }

    /// POSTs the login to `v3` (Keystone's v3 root) + `/auth/tokens`. `refused` is the error of a
    /// 401 or 403, which names the caller's own options (never the password).
    func login(v3: String, client: HTTPClient, timeout: Duration,
               refused: (Int) -> StoreError) async throws(StoreError) -> Token {
        var request = HTTPClientRequest(url: (v3.hasSuffix("/") ? String(v3.dropLast()) : v3) + "/auth/tokens")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: (try? JSONSerialization.data(withJSONObject: ["auth": body])) ?? Data()))
        let what = "authenticating at \(v3)"
        let status: Int, subject: String?, data: Data
        do {
            let seconds = timeout.components.seconds, ms = timeout.components.attoseconds / 1_000_000_000_000_000
            let response = try await client.execute(request, timeout: .milliseconds(seconds * 1000 + ms))
            let bytes = try await response.body.collect(upTo: 16 << 20)
            status = Int(response.status.code)
            subject = response.headers.first(name: "X-Subject-Token")
            data = Data(bytes.readableBytesView)
        } catch {
            throw HTTPClients.map(error, what: what)
        }
        if status == 401 || status == 403 { throw refused(status) }
        guard (200..<300).contains(status), let subject,
              let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let token = json["token"] as? [String: Any] else {
            throw .remoteServiceUnavailable("\(what): HTTP \(status)")
        }
        return Token(id: subject, catalog: (token["catalog"] as? [[String: Any]]) ?? [],
                     projectID: (token["project"] as? [String: Any])?["id"] as? String,
                     expires: Self.expiry(token["expires_at"] as? String))
    }

    private var body: [String: Any] {
        func ref(_ ref: Ref) -> [String: String] {
            switch ref { case .id(let id): ["id": id]; case .name(let name): ["name": name] }
        }
        func scoped(_ scope: Scope) -> [String: Any] {
            switch scope.ref {
            case .id(let id): ["id": id]
            case .name(let name): scope.domain.map { ["name": name, "domain": ref($0)] } ?? ["name": name]
            }
        }
        var user = scoped(self.user)
        user["password"] = password
        var auth: [String: Any] = ["identity": ["methods": ["password"], "password": ["user": user]]]
        if let project { auth["scope"] = ["project": scoped(project)] }
        return auth
    }

    /// The URL of the first endpoint of a service `type` (and `name`, if given) for the first of
    /// `interfaces` that has one in `region` (any region when nil), as the OpenStack clients pick it.
    static func endpoint(in catalog: [[String: Any]], type: String, name: String? = nil,
                         interfaces: [String], region: String?) -> String? {
        let services = catalog.filter { $0["type"] as? String == type && (name == nil || $0["name"] as? String == name) }
        let endpoints = services.flatMap { ($0["endpoints"] as? [[String: Any]]) ?? [] }
        for interface in interfaces {
            for endpoint in endpoints where endpoint["interface"] as? String == interface {
                let endpointRegion = (endpoint["region_id"] as? String) ?? (endpoint["region"] as? String)
                if let url = endpoint["url"] as? String, region == nil || region == endpointRegion { return url }
            }
        }
        return nil
    }

    /// Keystone's ISO 8601 expiry, as a point on the monotonic clock.
    static func expiry(_ text: String?) -> ContinuousClock.Instant? {
        guard let text else { return nil }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        guard let date = formatter.date(from: text) ?? ISO8601DateFormatter().date(from: text) else { return nil }
        return ContinuousClock.now + .milliseconds(Int64(date.timeIntervalSinceNow * 1000))
    }
}
