import Foundation
import GlanceConfig
import Logging
import NIOCore
import StoreFormats
import Synchronization

/// Glance's vmware store (`gs/_drivers/vmware_datastore.py`), working where Glance's own cannot
/// (its type is not its scheme: reference §1.3): image `<id>` is the file `[<datastore>]
/// <image_dir>/<id>` on one of `vmware_datastores`; its location
/// `vsphere://<host>/folder/<image_dir>/<id>?dsName=<ds>&dcPath=<dc>`. A store spans its datastores:
/// the listing is one datastore-browser search per datastore.
public final class VMwareStore: Store {
    public let id: String
    public let type = StoreType.vmware
    public let capabilities: Capabilities = [.readRandom, .writeAccess, .driverReusable, .rename, .setModificationTime, .capacity]
    let settings: VMwareStoreSettings
    let session: VSphereSession
    let datastores: VMwareDatastores
    let logger: Logger
    /// The last complete listing, served to lookups while fresh (an `ls -l` looks up every name).
    private let cache = Mutex<(at: ContinuousClock.Instant, listing: Listing)?>(nil)
    /// Where each image was last seen: the location of an image needs its datastore.
    private let placements = Mutex<[String: VMwareDatastore]>([:])
    /// Datastores whose image directory exists (made before a first write).
    private let directories = Mutex<Set<String>>([])

    static let freshness: Duration = .seconds(2)
    /// Partial uploads untouched this long are dead (a kill, a crash) and removed at start; younger
    /// ones may be another mount's upload in progress and are only reported.
    static let leftoverAge: TimeInterval = 3600

    public init(definition: StoreDefinition, logger: Logger) throws(StoreError) {
        guard let settings = definition.vmware else {
            throw .badStoreConfiguration(store: definition.id, reason: "not a vmware store")
        }
        id = definition.id
        self.settings = settings
        self.logger = logger
        session = VSphereSession(settings: settings, storeID: definition.id, logger: logger)
        datastores = VMwareDatastores(session: session, storeID: definition.id)
        if definition.housekeeping { Task.detached { [self] in await self.cleanLeftovers(olderThan: Self.leftoverAge) } }
    }

    /// One line for `check`: where the images are and as whom (never the password).
    public static func summary(_ definition: StoreDefinition) -> String {
        guard let s = definition.vmware else { return "" }
        let names = s.datastores.map { "\($0.datacenterPath):\($0.name)" + ($0.weight != 0 ? " (weight \($0.weight))" : "") }
        return "/\(s.imageDirectory) on \(names.joined(separator: ", ")) at \(s.host) as \(s.username)"
    }

    // MARK: Listing

    /// What the image directories hold.
    struct Listing: Sendable {
        var images: [String: Placed] = [:]
        var times: [TimeFile] = []
        var partials: [(file: DatastoreFile, datastore: VMwareDatastore)] = []
    }

    struct Placed: Sendable {
        let info: ImageInfo
        let datastore: VMwareDatastore
    }

    struct TimeFile: Sendable {
        let image: String
        let time: Timestamp
        let file: DatastoreFile
        let datastore: VMwareDatastore
    }

    /// Path of `file` relative to the datastore's root.
    func relative(_ file: String) -> String {
        settings.imageDirectory.isEmpty ? file : settings.imageDirectory + "/" + file
    }

    /// One search per datastore; an image found on two datastores is shown from the first listed.
    func scan() async throws(StoreError) -> Listing {
        var listing = Listing()
        var stored: [String: Timestamp] = [:]
        for datastore in try await datastores.all() {
            for file in try await search(datastore) where !file.isFolder {
                switch ImageDirectoryNames.kind(of: file.path) {
                case .image(let name):
                    if let problem = ImageName.problem(name) {
                        LeftOutNames.report(store: id, name: name, reason: problem, logger: logger)
                        continue
                    }
                    if let earlier = listing.images[name] {
                        if earlier.datastore != datastore {
                            LeftOutNames.report(store: id, name: name, reason: "also on datastore \(datastore.name); the one of \(earlier.datastore.name) is shown", logger: logger)
                        }
                        continue
                    }
                    let time = file.modification ?? Timestamp(seconds: 0, nanoseconds: 0)
                    stored[name] = time
                    listing.images[name] = Placed(info: ImageInfo(name: name, size: file.size, modificationTime: time), datastore: datastore)
                case .partial:
                    listing.partials.append((file, datastore))
                case .modificationTime(let image, let time):
                    listing.times.append(TimeFile(image: image, time: time, file: file, datastore: datastore))
                case .other:
                    continue
                }
            }
        }
        // A kept time counts when it is on the image's datastore and not older than the image's data.
        for time in listing.times.sorted(by: { ($0.file.modification ?? .init(seconds: 0, nanoseconds: 0)) < ($1.file.modification ?? .init(seconds: 0, nanoseconds: 0)) }) {
            guard let placed = listing.images[time.image], placed.datastore == time.datastore,
                  let data = stored[time.image], (time.file.modification ?? data) >= data else { continue }
            listing.images[time.image] = Placed(info: ImageInfo(name: time.image, size: placed.info.size, modificationTime: time.time),
                                               datastore: placed.datastore)
        }
        cache.withLock { $0 = (.now, listing) }
        placements.withLock { placements in
            for (name, placed) in listing.images { placements[name] = placed.datastore }
        }
        return listing
    }

    private func search(_ datastore: VMwareDatastore) async throws(StoreError) -> [DatastoreFile] {
        let folder = datastore.path(settings.imageDirectory)
        let spec = "<datastorePath>\(XMLText.escape(folder))</datastorePath><searchSpec><details><fileType>true</fileType>"
            + "<fileSize>true</fileSize><modification>true</modification><fileOwner>false</fileOwner></details>"
            + "<matchPattern>*</matchPattern></searchSpec>"
        switch try await session.runTask("SearchDatastore_Task", on: datastore.browser, spec) {
        case .success(let result): return DatastoreFile.list(result)
        case .failure(let fault) where fault.type == "FileNotFound": return []  // no image written there yet
        case .failure(let fault): throw VSphereFaults.error(fault, "searching \(folder)")
        }
    }

    /// The listing, fresh enough for a lookup.
    func current() async throws(StoreError) -> Listing {
        if let (at, listing) = cache.withLock({ $0 }), ContinuousClock.now - at < Self.freshness { return listing }
        return try await scan()
    }

    /// The store changed through this mount: the next lookup asks vCenter.
    func forget() { cache.withLock { $0 = nil } }

    public func list() async throws(StoreError) -> [ImageInfo] {
        try await scan().images.values.map(\.info).sorted { $0.name < $1.name }
    }

    public func stat(_ name: String) async throws(StoreError) -> ImageInfo {
        try await find(name).info
    }

    func find(_ name: String) async throws(StoreError) -> Placed {
        try ImageName.validate(name)
        let listing = try await current()
        guard let placed = listing.images[name] else { throw .notFound(image: name) }
        return placed
    }

    // MARK: Reading

    public func openForReading(_ name: String) async throws(StoreError) -> any ImageReader {
        let placed = try await find(name)
        let url = session.fileURL(placed.datastore, relative(name))
        let session = self.session
        return ChunkedImageReader(size: placed.info.size, chunkSize: Self.readChunk, depth: Self.readAhead, describe: "\(placed.datastore.name)/\(name)", meters: StoreMeters.of(id)) {
            start, length, _ throws(StoreError) in
            let reply = try await session.file(.GET, url, range: start...(start + UInt64(length) - 1), maxBody: length)
            switch reply.status {
            case 206, 200 where start == 0: return reply.data
            case 404: throw StoreError.notFound(image: name)
            case 416: return ImageBytes()  // shrank meanwhile
            default: throw StoreError.remoteServiceUnavailable("GET \(url) bytes \(start)-\(start + UInt64(length) - 1): HTTP \(reply.status)")
            }
        }
    }

    static let readChunk: UInt64 = 8 << 20
    static let readAhead: UInt64 = 4

    // MARK: Writing

    public func beginWrite(_ name: String, sizeHint: UInt64?) async throws(StoreError) -> any ImageWriter {
        try Self.validateNew(name)
        if try await scan().images[name] != nil { throw .duplicate(image: name) }
        let datastore = try await datastores.choose(for: sizeHint ?? 0)
        try await ensureDirectory(on: datastore)
        return VMwareImageWriter(store: self, datastore: datastore, name: name, sizeHint: sizeHint)
    }

    /// A name an image may be given: a file name, and not one of the names the store keeps for itself
    /// (`.storefs-*`: it would be taken for a partial upload or a kept time).
    static func validateNew(_ name: String) throws(StoreError) {
        try ImageName.validate(name)
        guard case .image = ImageDirectoryNames.kind(of: name) else { throw .invalidImageName(name) }
    }

    /// The image directory on `datastore` (MakeDirectory; one that exists is fine).
    private func ensureDirectory(on datastore: VMwareDatastore) async throws(StoreError) {
        let key = datastore.datacenterPath + "\u{0}" + datastore.name
        if directories.withLock({ $0.contains(key) }) || settings.imageDirectory.isEmpty { return }
        let content = try await session.content()
        let arguments = "<name>\(XMLText.escape(datastore.path(settings.imageDirectory)))</name>\(datastore.datacenter.xml("datacenter"))<createParentDirectories>true</createParentDirectories>"
        switch try await session.call("MakeDirectory", on: content.fileManager, arguments) {
        case .success: break
        case .failure(let fault) where fault.type == "FileAlreadyExists": break
        case .failure(let fault): throw VSphereFaults.error(fault, "making \(datastore.path(settings.imageDirectory))")
        }
        _ = directories.withLock { $0.insert(key) }
    }

    /// MoveDatastoreFile_Task within a datastore; `force` replaces what is at `to`.
    func move(_ from: String, to: String, on datastore: VMwareDatastore, force: Bool) async throws(StoreError) -> Result<Void, VSphereFault> {
        let content = try await session.content()
        let dc = datastore.datacenter
        let arguments = "<sourceName>\(XMLText.escape(datastore.path(relative(from))))</sourceName>\(dc.xml("sourceDatacenter"))"
            + "<destinationName>\(XMLText.escape(datastore.path(relative(to))))</destinationName>\(dc.xml("destinationDatacenter"))"
            + "<force>\(force)</force>"
        switch try await session.runTask("MoveDatastoreFile_Task", on: content.fileManager, arguments) {
        case .success: return .success(())
        case .failure(let fault): return .failure(fault)
        }
    }

    /// DeleteDatastoreFile_Task.
    func remove(_ file: String, on datastore: VMwareDatastore) async throws(StoreError) -> Result<Void, VSphereFault> {
        let content = try await session.content()
        let arguments = "<name>\(XMLText.escape(datastore.path(relative(file))))</name>\(datastore.datacenter.xml("datacenter"))"
        switch try await session.runTask("DeleteDatastoreFile_Task", on: content.fileManager, arguments) {
        case .success: return .success(())
        case .failure(let fault): return .failure(fault)
        }
    }

    /// An empty file (a kept modification time).
    func create(_ file: String, on datastore: VMwareDatastore) async throws(StoreError) {
        let body = BodyChannel(limit: 1)
        body.finish()
        let status = try await session.upload(session.fileURL(datastore, relative(file)), body: body, length: 0)
        guard status == 200 || status == 201 else {
            throw .remoteServiceUnavailable("PUT \(datastore.path(relative(file))): HTTP \(status)")
        }
    }

    func placed(_ name: String, on datastore: VMwareDatastore?) {
        placements.withLock { $0[name] = datastore }
        forget()
    }

    // MARK: Rename, delete, times

    public func rename(_ name: String, to newName: String, replacing: Bool) async throws(StoreError) {
        try Self.validateNew(newName)
        let listing = try await scan()
        guard let source = listing.images[name] else { throw .notFound(image: name) }
        let target = listing.images[newName]
        if target != nil && !replacing { throw .duplicate(image: newName) }
        let datastore = source.datastore
        let sameDatastore = target?.datastore == datastore
        if case .failure(let fault) = try await move(name, to: newName, on: datastore, force: replacing && sameDatastore) {
            throw VSphereFaults.error(fault, "moving \(name) to \(newName) on \(datastore.name)", image: fault.type == "FileAlreadyExists" ? newName : name)
        }
        placed(newName, on: datastore)
        placed(name, on: nil)
        // The time kept for the image goes with it; the replaced image's times go.
        let kept = listing.times.first { $0.image == name && $0.datastore == datastore && $0.time == source.info.modificationTime }
        if let kept {
            _ = try? await move(kept.file.path, to: ImageDirectoryNames.modificationTime(kept.time, for: newName), on: datastore, force: true)
        }
        let stale = listing.times.filter { ($0.image == name && $0.file != kept?.file) || $0.image == newName }
        for time in stale { _ = try? await remove(time.file.path, on: time.datastore) }
        if let target, !sameDatastore {
            _ = try? await remove(newName, on: target.datastore)
        }
        forget()
    }

    public func delete(_ name: String) async throws(StoreError) {
        try ImageName.validate(name)
        let listing = try await scan()
        guard let placed = listing.images[name] else { throw .notFound(image: name) }
        if case .failure(let fault) = try await remove(name, on: placed.datastore) {
            throw VSphereFaults.error(fault, "deleting \(placed.datastore.path(relative(name)))", image: name)
        }
        self.placed(name, on: nil)
        for time in listing.times where time.image == name {
            _ = try? await remove(time.file.path, on: time.datastore)
        }
        forget()
    }

    public func setModificationTime(_ name: String, to time: Timestamp) async throws(StoreError) {
        let listing = try await scan()
        guard let placed = listing.images[name] else { throw .notFound(image: name) }
        try await create(ImageDirectoryNames.modificationTime(time, for: name), on: placed.datastore)
        for earlier in listing.times where earlier.image == name && earlier.time != time {
            _ = try? await remove(earlier.file.path, on: earlier.datastore)
        }
        forget()
    }

    // MARK: Capacity, location, xattrs

    /// The datastores' capacity and free space, summed.
    public func capacity() async throws(StoreError) -> StoreCapacity {
        var total: UInt64 = 0, free: UInt64 = 0
        var seen = Set<ManagedObject>()
        for datastore in try await datastores.all() where seen.insert(datastore.reference).inserted {
            let space = try await datastores.space(of: datastore)
            total += space.capacity
            free += space.free
        }
        return StoreCapacity(totalBytes: total, availableBytes: free)
    }

    /// Glance's `StoreLocation.get_uri`: dsName first, then dcPath, form-encoded.
    public func location(of name: String) -> String {
        let datastore = placements.withLock { $0[name] }
        let dsName = datastore?.name ?? settings.datastores.first?.name ?? ""
        let dcPath = datastore?.datacenterPath ?? settings.datastores.first?.datacenterPath ?? ""
        var host = settings.host
        if host.contains(":"), !host.hasPrefix("["), host.filter({ $0 == ":" }).count > 1 { host = "[\(host)]" }
        let path = "/folder/" + (settings.imageDirectory.isEmpty ? "" : settings.imageDirectory + "/") + name
        return "vsphere://\(host)\(path)?dsName=\(Self.formEncode(dsName))&dcPath=\(Self.formEncode(dcPath))"
    }

    /// Python's `urlencode` (quote_plus): space as '+', everything but letters, digits and `_.-~` escaped.
    static func formEncode(_ text: String) -> String {
        URLText.component(text).replacingOccurrences(of: "%20", with: "+")
    }

    public func attributes(of name: String) async throws(StoreError) -> [String: String] {
        let placed = try await find(name)
        return ["vmware.datacenter": placed.datastore.datacenterPath, "vmware.datastore": placed.datastore.name]
    }

    // MARK: Leftovers

    /// Partial uploads, on every datastore of the store.
    public func leftovers() async throws(StoreError) -> [StoreLeftover] {
        try await scan().partials.map { file, datastore in
            var image: String?
            if case .partial(let name) = ImageDirectoryNames.kind(of: file.path) { image = name }
            return StoreLeftover(name: datastore.path(relative(file.path)), image: image, size: file.size,
                                 modified: file.modification, kind: "partial upload of glance-storefs")
        }
    }

    /// Partial uploads a kill or a crash left behind; kept times whose image is gone.
    func cleanLeftovers(olderThan age: TimeInterval) async {
        do {
            let listing = try await scan()
            for (file, datastore) in listing.partials {
                let idle = file.modification.map { Date().timeIntervalSince($0.date) } ?? age
                if idle >= age {
                    if case .failure(let fault) = try await remove(file.path, on: datastore), fault.type != "FileNotFound" {
                        throw VSphereFaults.error(fault, "removing \(datastore.path(relative(file.path)))")
                    }
                    logger.notice("removed the partial file of an interrupted upload", metadata: [
                        "store": "\(id)", "datastore": "\(datastore.name)", "file": "\(file.path)"])
                } else {
                    logger.info("a partial upload (in progress, or cut short less than an hour ago); hidden", metadata: [
                        "store": "\(id)", "datastore": "\(datastore.name)", "file": "\(file.path)"])
                }
            }
            for time in listing.times where listing.images[time.image]?.datastore != time.datastore {
                let idle = time.file.modification.map { Date().timeIntervalSince($0.date) } ?? age
                if idle >= age { _ = try await remove(time.file.path, on: time.datastore) }
            }
        } catch {
            logger.warning("cannot look for the leftovers of interrupted uploads", metadata: ["store": "\(id)", "error": "\(error)"])
        }
    }
}
