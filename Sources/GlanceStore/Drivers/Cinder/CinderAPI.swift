import AsyncHTTPClient
import Foundation
import GlanceConfig
import Logging
import NIOCore
import NIOHTTP1

/// Cinder's block-storage API v3 as the store uses it (microversion 3.54: the attachments API), with
/// the store's token, `cinder_http_retries` tries of requests that got no answer or a 5xx, and the
/// store's circuit breaker: a Cinder that does not answer fails the store's requests at once.
final class CinderAPI: Sendable {
    let storeID: String
    let settings: CinderStoreSettings
    let session: CinderSession
    let health: BackendHealth
    let logger: Logger
    private let client: HTTPClient

    static let microversion = "volume 3.54"

    struct Reply: Sendable {
        let status: Int
        let data: Data
        var json: [String: Any] { ((try? JSONSerialization.jsonObject(with: data)) as? [String: Any]) ?? [:] }
        var ok: Bool { (200..<300).contains(status) }
        /// Cinder's own words for a refusal (`{"badRequest": {"message": ...}}`).
        var message: String {
            for value in json.values {
                if let fault = value as? [String: Any], let message = fault["message"] as? String { return message }
            }
            return String(decoding: data.prefix(300), as: UTF8.self)
        }
    }

    init(storeID: String, settings: CinderStoreSettings, logger: Logger) {
        self.storeID = storeID
        self.settings = settings
        self.logger = logger
        let client = HTTPClients.make(insecure: settings.insecure, caFile: settings.caCertificate, timeout: settings.timeout)
        self.client = client
        let session = CinderSession(settings: settings, client: client)
        self.session = session
        // The probe: Keystone and Cinder both answer (any status counts).
        health = BackendHealth(backend: "cinder store \(storeID)", logger: logger) {
            guard let token = try? await session.token() else { return false }
            var request = HTTPClientRequest(url: token.endpoint)
            request.method = .HEAD
            return (try? await client.execute(request, timeout: .milliseconds(Int64(settings.timeout * 1000)))) != nil
        }
    }

    /// One request to Cinder, `path` relative to the project's endpoint. A 401 renews the token once.
    func call(_ method: HTTPMethod, _ path: String, _ body: [String: Any]? = nil, what: String) async throws(StoreError) -> Reply {
        let payload = body.flatMap { try? JSONSerialization.data(withJSONObject: $0) }
        let tries = settings.httpRetries + 1
        let started = ContinuousClock.now
        defer {
            logger.debug("cinder request", metadata: ["store": "\(storeID)", "method": "\(method.rawValue)", "path": "\(path)",
                                                      "seconds": "\(BackendHealth.seconds(ContinuousClock.now - started))"])
        }
        return try await HTTPClients.withRetries(what, health: health, logger: logger, tries: tries, status: \.status) { () throws(StoreError) -> Reply in
            var token = try await session.token()
            var reply = try await send(method, path, payload, token, what: what)
            if reply.status == 401 {
                token = try await session.renew(replacing: token)
                reply = try await send(method, path, payload, token, what: what)
            }
            return reply
        }
    }

    private func send(_ method: HTTPMethod, _ path: String, _ payload: Data?, _ token: CinderToken, what: String) async throws(StoreError) -> Reply {
        var request = HTTPClientRequest(url: SwiftAuth.join(token.endpoint, path))
        request.method = method
        request.headers.add(name: "X-Auth-Token", value: token.token)
        request.headers.add(name: "OpenStack-API-Version", value: Self.microversion)
        request.headers.add(name: "Accept", value: "application/json")
        if let payload {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: payload))
        }
        do {
            let response = try await client.execute(request, timeout: .milliseconds(Int64(settings.timeout * 1000)))
            let body = try await response.body.collect(upTo: 64 << 20)
            return Reply(status: Int(response.status.code), data: Data(body.readableBytesView))
        } catch {
            throw HTTPClients.map(error, what: what)
        }
    }

    /// A refusal as the store error Glance would raise.
    func failure(_ reply: Reply, image: String, _ what: String) -> StoreError {
        switch reply.status {
        case 404: return .notFound(image: image)
        case 413: return .storageQuotaFull("\(what): \(reply.message)")
        case 401, 403: return .forbidden("\(what): HTTP \(reply.status): \(reply.message)")
        case 409: return .inUseByStore(image: image)
        default: return .backend("\(what): HTTP \(reply.status): \(reply.message)")
        }
    }

    // MARK: Volumes

    /// Every volume of the project, a page (up to 1000) per request.
    func volumes() async throws(StoreError) -> [CinderVolume] {
        var all: [CinderVolume] = []
        var marker: String?
        while true {
            var path = "volumes/detail?limit=1000"
            if let marker { path += "&marker=\(marker)" }
            let reply = try await call(.GET, path, what: "listing volumes")
            guard reply.ok else { throw failure(reply, image: "", "listing volumes") }
            let page = ((reply.json["volumes"] as? [[String: Any]]) ?? []).compactMap(CinderVolume.init(json:))
            all += page
            guard page.count == 1000, let last = page.last else { return all }
            marker = last.id
        }
    }

    /// The volumes named exactly `name` (Cinder's `name` filter).
    func volumes(named name: String) async throws(StoreError) -> [CinderVolume] {
        let query = name.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? name
        let reply = try await call(.GET, "volumes/detail?name=\(query)", what: "looking up volume \(name)")
        guard reply.ok else { throw failure(reply, image: name, "looking up volume \(name)") }
        return ((reply.json["volumes"] as? [[String: Any]]) ?? []).compactMap(CinderVolume.init(json:)).filter { $0.name == name }
    }

    func volume(_ id: String, image: String) async throws(StoreError) -> CinderVolume {
        let reply = try await call(.GET, "volumes/\(id)", what: "reading volume \(id)")
        guard reply.ok, let volume = (reply.json["volume"] as? [String: Any]).flatMap(CinderVolume.init(json:)) else {
            throw failure(reply, image: image, "reading volume \(id)")
        }
        return volume
    }

    func createVolume(name: String, sizeGiB: UInt64, type: String?, metadata: [String: String], image: String) async throws(StoreError) -> CinderVolume {
        var volume: [String: Any] = ["name": name, "size": sizeGiB, "metadata": metadata]
        if let type { volume["volume_type"] = type }
        let reply = try await call(.POST, "volumes", ["volume": volume], what: "creating volume \(name)")
        guard reply.ok, let created = (reply.json["volume"] as? [String: Any]).flatMap(CinderVolume.init(json:)) else {
            throw failure(reply, image: image, "creating volume \(name)")
        }
        return created
    }

    /// Polls until the volume is in one of `states` (bounded by `cinder_state_transition_timeout`);
    /// an error state or the bound fails.
    func waitFor(_ id: String, image: String, _ states: Set<String>, what: String) async throws(StoreError) -> CinderVolume {
        let deadline = ContinuousClock.now + .seconds(settings.stateTransitionTimeout)
        // Most transitions take a fraction of a second (an RBD volume is available ~0.2 s after its
        // create): asked often at first, then less.
        var pause: Duration = .milliseconds(20)
        while true {
            let volume = try await self.volume(id, image: image)
            if states.contains(volume.status) { return volume }
            if volume.status.hasPrefix("error") {
                throw .backend("\(what): volume \(id) went to status \(volume.status)")
            }
            if ContinuousClock.now > deadline {
                throw .timedOut("\(what): volume \(id) still \(volume.status) after cinder_state_transition_timeout (\(settings.stateTransitionTimeout) s)")
            }
            try? await Task.sleep(for: pause)
            pause = min(pause * 3 / 2, .seconds(1))
        }
    }

    func rename(_ id: String, to name: String, image: String) async throws(StoreError) {
        let reply = try await call(.PUT, "volumes/\(id)", ["volume": ["name": name]], what: "renaming volume \(id)")
        guard reply.ok else { throw failure(reply, image: image, "renaming volume \(id)") }
    }

    /// Merges `metadata` into the volume's.
    func setMetadata(_ id: String, _ metadata: [String: String], image: String) async throws(StoreError) {
        let reply = try await call(.POST, "volumes/\(id)/metadata", ["metadata": metadata], what: "setting metadata of volume \(id)")
        guard reply.ok else { throw failure(reply, image: image, "setting metadata of volume \(id)") }
    }

    func action(_ id: String, _ body: [String: Any], image: String, what: String) async throws(StoreError) {
        let reply = try await call(.POST, "volumes/\(id)/action", body, what: "\(what) of volume \(id)")
        guard reply.ok else { throw failure(reply, image: image, "\(what) of volume \(id)") }
    }

    func deleteVolume(_ id: String, image: String) async throws(StoreError) {
        let reply = try await call(.DELETE, "volumes/\(id)", what: "deleting volume \(id)")
        guard reply.ok else {
            // Attached, or between states: Cinder refuses with 400.
            if reply.status == 400 { throw .inUseByStore(image: image) }
            throw failure(reply, image: image, "deleting volume \(id)")
        }
    }

    // MARK: Attachments

    /// What the connector says of this host: os-brick's fields for a host without multipath.
    static var connector: [String: Any] {
        var name = [CChar](repeating: 0, count: 256)
        gethostname(&name, name.count)
        let host = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return ["host": host, "ip": "127.0.0.1", "platform": "x86_64", "os_type": "linux", "multipath": false,
                "do_local_attach": false, "initiator": "glance-storefs"]
    }

    /// Creates an attachment with this host's connector and completes it: the volume is `in-use`.
    func attach(_ volumeID: String, readOnly: Bool, image: String) async throws(StoreError) -> (id: String, connection: VolumeConnection) {
        let body: [String: Any] = ["attachment": ["volume_uuid": volumeID, "mode": readOnly ? "ro" : "rw", "connector": Self.connector]]
        let reply = try await call(.POST, "attachments", body, what: "attaching volume \(volumeID)")
        guard reply.ok, let attachment = reply.json["attachment"] as? [String: Any], let id = attachment["id"] as? String else {
            // A volume attached elsewhere (not multi-attach) or between states: 400.
            if reply.status == 400 { throw .inUseByStore(image: image) }
            throw failure(reply, image: image, "attaching volume \(volumeID)")
        }
        let connection = VolumeConnection(json: (attachment["connection_info"] as? [String: Any]) ?? [:])
        let complete = try await call(.POST, "attachments/\(id)/action", ["os-complete": NSNull()], what: "completing attachment \(id)")
        guard complete.ok else {
            try? await detach(id)
            throw failure(complete, image: image, "completing attachment \(id)")
        }
        return (id, connection)
    }

    /// The ids of the volume's attachments.
    func attachments(of volumeID: String) async throws(StoreError) -> [String] {
        let reply = try await call(.GET, "attachments?volume_id=\(volumeID)", what: "listing attachments of volume \(volumeID)")
        guard reply.ok else { throw failure(reply, image: "", "listing attachments of volume \(volumeID)") }
        return ((reply.json["attachments"] as? [[String: Any]]) ?? []).compactMap { $0["id"] as? String }
    }

    func detach(_ attachmentID: String) async throws(StoreError) {
        let reply = try await call(.DELETE, "attachments/\(attachmentID)", what: "deleting attachment \(attachmentID)")
        guard reply.ok || reply.status == 404 else { throw failure(reply, image: "", "deleting attachment \(attachmentID)") }
    }

    /// The project's absolute limits (`maxTotalVolumeGigabytes`, `totalGigabytesUsed`...).
    func limits() async throws(StoreError) -> [String: Int] {
        let reply = try await call(.GET, "limits", what: "reading limits")
        guard reply.ok, let absolute = (reply.json["limits"] as? [String: Any])?["absolute"] as? [String: Any] else {
            throw failure(reply, image: "", "reading limits")
        }
        return absolute.compactMapValues { ($0 as? NSNumber)?.intValue }
    }
}
