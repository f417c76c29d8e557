import AsyncHTTPClient
import Foundation
import GlanceConfig
import NIOHTTP1

/// Glance's images API v2, read-only, as the service user of `[keystone_authtoken]`: the whole
/// catalogue (every page, hidden images too) and the tasks of an image.
public final class GlanceClient: Sendable {
    public let settings: CatalogueSettings
    private let login: KeystoneLogin
    private let shared: SharedCredential<GlanceAccess>
    /// Images per page: Glance's `api_limit_max` default (a larger limit is cut to it anyway).
    public static let defaultPageSize = 1000
    let pageSize: Int

    public init(settings: CatalogueSettings, pageSize: Int = defaultPageSize) {
        self.settings = settings
        self.pageSize = pageSize
        let client = HTTPClients.make(insecure: settings.insecure, caFile: settings.caFile, timeout: settings.timeout)
        login = KeystoneLogin(settings: settings, client: client)
        shared = SharedCredential(what: "asking Glance's catalogue") { $0.expiresSoon }
    }

    /// Where the catalogue comes from, for messages (no secret in it).
    public var source: String {
        if let url = settings.glanceURL { return url }
        return "the image endpoint of \(settings.authURL ?? "?")"
    }

    /// Every image Glance records: the listing's pages, then the hidden images' (Glance lists those
    /// only when asked for them alone).
    public func images() async throws(StoreError) -> [CatalogueImage] {
        var all: [CatalogueImage] = []
        for hidden in [false, true] {
            var path: String? = "/v2/images?limit=\(pageSize)" + (hidden ? "&os_hidden=true" : "")
            var seen = Set<String>()
            while let next = path {
                guard seen.insert(next).inserted else { break }  // a `next` that loops
                let json = try await get(next)
                let page = ((json["images"] as? [[String: Any]]) ?? []).compactMap(CatalogueImage.init(json:))
                all += page
                path = page.isEmpty ? nil : json["next"] as? String
            }
        }
        var ids = Set<String>()
        return all.filter { ids.insert($0.id).inserted }
    }

    /// The tasks Glance ran for an image (API 2.12, Glance ≥ Wallaby), newest first.
    public func tasks(of image: String) async throws(StoreError) -> [CatalogueTask] {
        let json = try await get("/v2/images/\(image)/tasks")
        return ((json["tasks"] as? [[String: Any]]) ?? []).compactMap { task in
            guard let id = task["id"] as? String, let status = task["status"] as? String else { return nil }
            return CatalogueTask(id: id, status: status, message: task["message"] as? String)
        }
    }

    private func get(_ path: String) async throws(StoreError) -> [String: Any] {
        var access = try await shared.value { () throws(StoreError) in try await self.login.access() }
        for attempt in 0..<2 {
            var request = HTTPClientRequest(url: access.endpoint + (path.hasPrefix("/") ? path : "/" + path))
            request.headers.add(name: "Accept", value: "application/json")
            if let token = access.token { request.headers.add(name: "X-Auth-Token", value: token) }
            let (status, _, data) = try await login.send(request, what: "asking Glance at \(access.endpoint)")
            if status == 401, attempt == 0, access.token != nil {
                let stale = access
                access = try await shared.renew(replacing: stale) { () throws(StoreError) in try await self.login.access() }
                continue
            }
            if status == 401 || status == 403 {
                throw .forbidden("Glance at \(access.endpoint) refused \(path) (HTTP \(status)): the [keystone_authtoken] user needs Glance's admin role to see every image")
            }
            guard (200..<300).contains(status), let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw .remoteServiceUnavailable("Glance at \(access.endpoint) answered \(path) with HTTP \(status)")
            }
            return json
        }
        throw .remoteServiceUnavailable("Glance at \(access.endpoint): unauthorized twice")
    }
}
