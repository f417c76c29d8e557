import Foundation
import GlanceConfig
import Logging
import NIOCore
import Synchronization

/// Glance's single-tenant swift store (`gs/_drivers/swift/store.py`): object `<image id>` in
/// `swift_store_container` (or `<container>_<first N chars of the id>` with a seed); images of
/// `large_object_size` or more, or of unknown size, as DLO segments `<id>-00001`... and a 0-byte
/// manifest with `X-Object-Manifest: <container>/<id>-` written last.
public final class SwiftStore: Store {
    public let id: String
    public let type = StoreType.swift
    public let capabilities: Capabilities = [.readRandom, .writeAccess, .rename, .setModificationTime, .capacity, .publishOnRename]
    let settings: SwiftStoreSettings
    let account: SwiftAccount
    let logger: Logger
    /// The last complete listing, served to lookups while fresh (an `ls -l` looks up every name).
    private let cache = Mutex<(at: ContinuousClock.Instant, images: [String: ImageInfo])?>(nil)
    /// Names a HEAD found absent, and when: answered as absent while fresh unless written through
    /// this mount since. rsync asks three times for each name it is about to create (its generator,
    /// its receiver, the kernel before the rename), a HEAD of 7 ms each; its generator runs ahead,
    /// so a write forgets its own name only.
    private let absent = Mutex<(notes: [String: ContinuousClock.Instant], lastWrite: ContinuousClock.Instant)>(([:], .now))
    /// X-Object-Meta-Mtime learned by HEAD (listings do not show it), by name and ETag.
    private let metaMtimes = Mutex<[String: (etag: String, time: Timestamp)]>([:])
    /// Containers known to exist (checked or created before a first write).
    private let knownContainers = Mutex<Set<String>>([])

    public static let freshness: Duration = .seconds(2)
    /// Entries per listing request (Swift's maximum).
    public static let defaultPageSize = 10_000
    let pageSize: Int
    /// Requests in flight at once when deleting or copying segments.
    static let parallelRequests = 8

    /// How long a HEAD's "absent" is trusted (tests lengthen it: a slow put must not outlast it).
    let absentFreshness: Duration

    public init(definition: StoreDefinition, logger: Logger, pageSize: Int = defaultPageSize,
                absentFreshness: Duration = SwiftStore.freshness) throws(StoreError) {
        self.pageSize = pageSize
        self.absentFreshness = absentFreshness
        guard let settings = definition.swift else {
            throw .badStoreConfiguration(store: definition.id, reason: "not a swift store")
        }
        id = definition.id
        self.settings = settings
        self.logger = logger
        account = SwiftAccount(settings: settings, storeID: definition.id, logger: logger)
        if definition.housekeeping { Task.detached { [self] in await self.cleanLeftovers(olderThan: Self.leftoverAge) } }
    }

    /// Segments without a manifest whose newest is older than this are removed at start (an
    /// upload that stalled this long is dead); newer ones may be an upload in progress (ours in
    /// another mount, or Glance's) and are only reported.
    static let leftoverAge: TimeInterval = 3600

    /// Segment series without a manifest, Glance's or ours (both name segments `<id>-00001`...).
    public func leftovers() async throws(StoreError) -> [StoreLeftover] {
        var found: [StoreLeftover] = []
        for container in try await containers() {
            let entries = try await listing(container)
            let sizes = Dictionary(entries.compactMap { e in e.name.map { ($0, e.bytes ?? 0) } }, uniquingKeysWith: { a, _ in a })
            for series in SwiftListing.orphanSeries(entries) {
                found.append(StoreLeftover(
                    name: "\(container)/\(series.base)-00001...", image: series.base,
                    size: series.segments.reduce(0) { $0 + UInt64(sizes[$1] ?? 0) }, modified: series.newest,
                    kind: "\(series.segments.count) segments without a manifest"))
            }
        }
        return found
    }

    /// The segments that writes cut short (kill -9, a crash, a lost connection) left behind.
    func cleanLeftovers(olderThan age: TimeInterval) async {
        do {
            for container in try await containers() {
                for series in SwiftListing.orphanSeries(try await listing(container)) {
                    let idle = Date().timeIntervalSince(series.newest.date)
                    if idle >= age {
                        try await deleteObjects(container, series.segments)
                        logger.notice("removed the segments of an interrupted upload", metadata: [
                            "store": "\(id)", "container": "\(container)", "image": "\(series.base)", "segments": "\(series.segments.count)"])
                    } else {
                        logger.info("segments without a manifest (an upload in progress, or cut short less than an hour ago); hidden", metadata: [
                            "store": "\(id)", "container": "\(container)", "image": "\(series.base)", "segments": "\(series.segments.count)"])
                    }
                }
            }
        } catch {
            logger.warning("cannot look for the leftovers of interrupted uploads", metadata: ["store": "\(id)", "error": "\(error)"])
        }
    }

    /// One line for `check`: where the images are and as whom (never the key).
    public static func summary(_ definition: StoreDefinition) -> String {
        guard let s = definition.swift else { return "" }
        let containers = s.containerSeed == 0 ? "container \(s.container)" : "containers \(s.container)_<first \(s.containerSeed) chars of the id>"
        return "\(containers) at \(s.credentials)" + (s.usesConfigFile ? " (reference \(s.reference))" : "")
            + ", DLO from \(s.largeObjectSize) bytes in \(s.largeObjectChunkSize)-byte segments"
    }

    /// Glance's `get_container_name`.
    func container(for image: String) -> String {
        let seed = settings.containerSeed
        guard seed > 0 else { return settings.container }
        let id = image.lowercased()
        let dashes = id.prefix(seed).filter { $0 == "-" }.count
        return settings.container + "_" + id.prefix(seed + dashes)
    }

    // MARK: Listing

    public func list() async throws(StoreError) -> [ImageInfo] {
        var images: [ImageInfo] = []
        for container in try await containers() {
            let remembered = metaMtimes.withLock { $0 }
            let found = SwiftListing.images(try await listing(container)) { name, hash in
                remembered[name].flatMap { $0.etag == hash ? $0.time : nil }
            }
            images += found.filter { self.container(for: $0.name) == container }
        }
        // A 0-byte entry may still be a manifest whose segments live elsewhere (swiftclient puts
        // them in `<container>_segments`): those few, and only those, are asked about.
        let empty = images.indices.filter { images[$0].size == 0 }.map { ($0, images[$0].name) }
        if !empty.isEmpty {
            let manifests = Manifests()
            try await forEach(empty) { (index, name) throws(StoreError) in
                let reply = try await self.account.request(.HEAD, SwiftAccount.objectPath(self.container(for: name), name))
                if reply.ok, reply.header("X-Object-Manifest") != nil { manifests.found.withLock { $0[index] = self.info(name, reply) } }
            }
            for (index, info) in manifests.found.withLock({ $0 }) { images[index] = info }
        }
        let byName = Dictionary(images.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        cache.withLock { $0 = (.now, byName) }
        return images
    }

    /// The store's containers: the one, or every seed container there is.
    func containers() async throws(StoreError) -> [String] {
        guard settings.containerSeed > 0 else { return [settings.container] }
        let prefix = settings.container + "_"
        return try await pages(path: "", prefix: prefix).compactMap(\.name).filter { name in
            let suffix = name.dropFirst(prefix.count)
            return suffix.filter { $0 != "-" }.count == settings.containerSeed
        }
    }

    /// A container's whole listing, page after page. A container not created yet is an empty store.
    func listing(_ container: String, prefix: String? = nil) async throws(StoreError) -> [SwiftListing.Entry] {
        try await pages(path: SwiftAccount.encode(container), prefix: prefix)
    }

    private func pages(path: String, prefix: String?) async throws(StoreError) -> [SwiftListing.Entry] {
        var entries: [SwiftListing.Entry] = []
        var marker: String?
        while true {
            var query = "format=json&limit=\(pageSize)"
            if let prefix { query += "&prefix=" + SwiftAccount.encode(prefix) }
            if let marker { query += "&marker=" + SwiftAccount.encode(marker) }
            let reply = try await account.request(.GET, path, query: query)
            if reply.status == 404 { return [] }
            if reply.status == 204 { return entries }
            guard reply.ok else { throw Self.error(reply, "listing \(path.isEmpty ? "the account" : path)") }
            let page: [SwiftListing.Entry]
            do { page = try JSONDecoder().decode([SwiftListing.Entry].self, from: Data(reply.data.array)) } catch {
                throw .backend("listing \(path): not a JSON listing: \(error)")
            }
            entries += page
            guard page.count == pageSize, let last = page.last?.name ?? page.last?.subdir else { return entries }
            marker = last
        }
    }

    public func stat(_ name: String) async throws(StoreError) -> ImageInfo {
        try ImageName.validate(name)
        if let (at, images) = cache.withLock({ $0 }), ContinuousClock.now - at < Self.freshness {
            if let info = images[name] { return info }
            throw .notFound(image: name)
        }
        if let at = absent.withLock({ $0.notes[name] }), ContinuousClock.now - at < absentFreshness { throw .notFound(image: name) }
        let container = container(for: name)
        let asked = ContinuousClock.now
        let reply = try await account.request(.HEAD, SwiftAccount.objectPath(container, name))
        if reply.status == 404 {
            noteAbsent(name, since: asked)
            throw .notFound(image: name)
        }
        guard reply.ok else { throw Self.error(reply, "HEAD \(container)/\(name)") }
        // A segment of a listed manifest is not an image of its own.
        if let base = SwiftListing.segmentBase(name) {
            let manifest = try await account.request(.HEAD, SwiftAccount.objectPath(container, String(base)))
            if manifest.ok { throw .notFound(image: name) }
        }
        return info(name, reply)
    }

    /// Size and mtime from a HEAD: the mtime set through the mount, else X-Object-Meta-Mtime (as
    /// swiftclient and rclone write it, remembered for later listings, which cannot show it), else
    /// the object's timestamp.
    private func info(_ name: String, _ reply: SwiftAccount.Reply) -> ImageInfo {
        var time = SwiftListing.mtime(contentType: reply.header("Content-Type"))
        if time == nil, let meta = reply.header("X-Object-Meta-Mtime").flatMap(SwiftListing.parseTime) {
            time = meta
            if let etag = reply.header("Etag") { metaMtimes.withLock { $0[name] = (etag, meta) } }
        }
        let size = reply.header("Content-Length").flatMap { UInt64($0) } ?? 0
        // X-Timestamp is the listing's last_modified to the microsecond; Last-Modified is it
        // rounded up to the next second, which would make one image two different times.
        return ImageInfo(name: name, size: size, modificationTime: time
                         ?? reply.header("X-Timestamp").flatMap(SwiftListing.parseTime)
                         ?? reply.header("Last-Modified").flatMap(HTTPDate.parse) ?? Timestamp(seconds: 0, nanoseconds: 0))
    }

    /// The store changed through this mount (these names written or removed): the next lookup asks Swift.
    func forget(_ names: String...) {
        cache.withLock { $0 = nil }
        absent.withLock { a in
            for name in names { a.notes[name] = nil }
            a.lastWrite = .now
        }
    }

    /// A HEAD sent at `since` found no `name`: noted unless a write went through the mount since it
    /// was sent (its answer may be older than that write).
    private func noteAbsent(_ name: String, since: ContinuousClock.Instant) {
        absent.withLock { a in
            guard since > a.lastWrite else { return }
            if a.notes.count >= 10_000 {
                let now = ContinuousClock.now
                a.notes = a.notes.filter { now - $0.value < absentFreshness }
            }
            a.notes[name] = since
        }
    }

    // MARK: Reading

    public func openForReading(_ name: String) async throws(StoreError) -> any ImageReader {
        let info = try await stat(name)
        return SwiftImageReader(account: account, container: container(for: name), object: name, size: info.size, meters: StoreMeters.of(id))
    }

    // MARK: Writing

    public func beginWrite(_ name: String, sizeHint: UInt64?) async throws(StoreError) -> any ImageWriter {
        try ImageName.validate(name)
        forget(name)
        // One PUT of a known size finds a duplicate itself (If-None-Match: *); a longer upload is
        // not started for nothing.
        if (sizeHint ?? UInt64.max) >= settings.largeObjectSize {
            let exists: Bool
            do throws(StoreError) { _ = try await stat(name); exists = true } catch {
                guard case .notFound = error else { throw error }
                exists = false
            }
            if exists { throw .duplicate(image: name) }
        }
        let container = container(for: name)
        try await ensure(container)
        return SwiftImageWriter(store: self, container: container, name: name, sizeHint: sizeHint)
    }

    /// Glance's `_create_container_if_missing`.
    func ensure(_ container: String) async throws(StoreError) {
        if knownContainers.withLock({ $0.contains(container) }) { return }
        let path = SwiftAccount.encode(container)
        let head = try await account.request(.HEAD, path)
        if head.status == 404 {
            guard settings.createContainerOnPut else {
                throw .backend("The container \(container) does not exist in Swift. Please set the swift_store_create_container_on_put option to add container to Swift automatically.")
            }
            logger.info("creating swift container", metadata: ["store": "\(id)", "container": "\(container)"])
            let put = try await account.request(.PUT, path)
            guard put.ok else { throw Self.error(put, "creating container \(container)") }
        } else if !head.ok {
            throw Self.error(head, "HEAD \(container)")
        }
        _ = knownContainers.withLock { $0.insert(container) }
    }

    // MARK: Capacity, location, xattrs

    /// The account's usage; its quota (X-Account-Meta-Quota-Bytes) when there is one, else Swift
    /// sets no limit a client can see: the total is then the usage plus 1 PiB.
    public func capacity() async throws(StoreError) -> StoreCapacity {
        let reply = try await account.request(.HEAD, "")
        guard reply.ok else { throw Self.error(reply, "HEAD of the account") }
        let used = reply.header("X-Account-Bytes-Used").flatMap { UInt64($0) } ?? 0
        if let quota = reply.header("X-Account-Meta-Quota-Bytes").flatMap({ UInt64($0) }) {
            return StoreCapacity(totalBytes: max(quota, used), availableBytes: quota > used ? quota - used : 0)
        }
        return StoreCapacity(totalBytes: used + (1 << 50), availableBytes: 1 << 50)
    }

    /// Glance's location for an image added with these settings, without credentials:
    /// `swift+config://<ref>/<container>/<id>` with references, else the auth address's.
    public func location(of name: String) -> String {
        let container = container(for: name)
        if settings.usesConfigFile { return "swift+config://\(settings.reference)/\(container)/\(name)" }
        let address = settings.credentials.authAddress
        let scheme = address.lowercased().hasPrefix("http://") ? "swift+http" : "swift+https"
        var rest = address
        if let range = rest.range(of: "://") { rest = String(rest[range.upperBound...]) }
        rest = rest.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        return "\(scheme)://\(rest)/\(container)/\(name)"
    }

    /// What the object is in Swift: its container, ETag, large-object kind and segment prefix.
    public func attributes(of name: String) async throws(StoreError) -> [String: String] {
        let container = container(for: name)
        let head = try await account.request(.HEAD, SwiftAccount.objectPath(container, name))
        if head.status == 404 { throw .notFound(image: name) }
        guard head.ok else { throw Self.error(head, "HEAD \(container)/\(name)") }
        var attributes = ["swift.container": container]
        if let etag = head.header("Etag") { attributes["swift.etag"] = etag.trimmingCharacters(in: CharacterSet(charactersIn: "\"")) }
        if let manifest = head.header("X-Object-Manifest") {
            attributes["swift.large_object"] = "dlo"
            attributes["swift.manifest"] = manifest.removingPercentEncoding ?? manifest
        } else if head.header("X-Static-Large-Object")?.lowercased() == "true" {
            attributes["swift.large_object"] = "slo"
        }
        return attributes
    }

    static func error(_ reply: SwiftAccount.Reply, _ what: String) -> StoreError {
        switch reply.status {
        case 401, 403: return .forbidden("\(what): HTTP \(reply.status)")
        case 404: return .backend("\(what): not found (HTTP 404)")
        case 409, 412: return .backend("\(what): conflict (HTTP \(reply.status))")
        case 413:
            // account_quotas and container_quotas say "Upload exceeds quota."; otherwise the object
            // is larger than the cluster takes.
            let text = String(decoding: reply.data.array.prefix(200), as: UTF8.self)
            return text.lowercased().contains("quota") ? .storageQuotaFull("\(what): \(text)") : .storageFull("\(what): HTTP 413 \(text)")
        case 507: return .storageFull("\(what): HTTP 507")
        default: return .remoteServiceUnavailable("\(what): HTTP \(reply.status)")
        }
    }
}

/// What the HEADs of 0-byte entries found, by listing index.
private final class Manifests: Sendable {
    let found = Mutex<[Int: ImageInfo]>([:])
}
