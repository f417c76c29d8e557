import Foundation
import GlanceStore

/// What one store holds: its images (what the mount lists) and what interrupted writes left.
public struct StoreHoldings: Sendable {
    public let store: String
    public let images: [ImageInfo]
    public let leftovers: [StoreLeftover]

    public init(store: String, images: [ImageInfo], leftovers: [StoreLeftover]) {
        self.store = store
        self.images = images
        self.leftovers = leftovers
    }
}

/// The comparison itself, without I/O: a store's holdings against Glance's catalogue. Every rule of
/// the audit is here, so that tests pin them on made-up catalogues.
public struct AuditRules: Sendable {
    public let catalogue: [String: CatalogueImage]
    /// Images with an import or copy task pending or processing: their data may be on its way.
    public let activeImports: Set<String>
    public let now: Timestamp
    /// Writes younger than this may still be going on (an upload through Glance adds the location last).
    public static let inProgressAge: Int64 = 3600

    public init(catalogue: [CatalogueImage], activeImports: Set<String>, now: Timestamp = .now) {
        self.catalogue = Dictionary(catalogue.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        self.activeImports = activeImports
        self.now = now
    }

    /// Orphans, missing copies, size mismatches and the store's own leftovers.
    public func findings(for holdings: StoreHoldings) -> [AuditFinding] {
        let store = holdings.store
        var findings: [AuditFinding] = []
        let held = Dictionary(holdings.images.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for info in holdings.images.sorted(by: { $0.name < $1.name }) {
            let image = catalogue[info.name]
            if let image, image.stores.contains(store) { continue }
            if let image, mayBeWriting(image, info.modificationTime) { continue }
            var evidence: [(String, AuditFinding.Value)] = [("size", .number(info.size)), ("modified", .text(Self.text(info.modificationTime)))]
            if let image {
                evidence += [("glance_status", .text(image.status)), ("glance_stores", .text(image.stores.joined(separator: ",")))]
            } else {
                evidence.append(("glance_status", .text("unknown")))
            }
            findings.append(AuditFinding(store: store, image: info.name, kind: .orphan, evidence: evidence))
        }
        for image in catalogue.values.sorted(by: { $0.id < $1.id }) where image.stores.contains(store) {
            let location = image.location(in: store).map(Redact.location) ?? "(not shown)"
            guard let info = held[image.id] else {
                findings.append(AuditFinding(store: store, image: image.id, kind: .missing, evidence: [
                    ("location", .text(location)), ("glance_status", .text(image.status)),
                    ("glance_size", image.size.map { .number($0) } ?? .text("none")),
                    ("glance_stores", .text(image.stores.joined(separator: ","))),
                ]))
                continue
            }
            if let size = image.size, size != info.size {
                findings.append(AuditFinding(store: store, image: image.id, kind: .sizeMismatch, evidence: [
                    ("store_size", .number(info.size)), ("glance_size", .number(size)), ("location", .text(location)),
                ]))
            }
        }
        for leftover in holdings.leftovers {
            findings.append(Self.leftover(store: store, leftover))
        }
        return findings
    }

    /// Copies worth hashing: held, recorded with a checksum, and of the recorded size.
    public func verifiable(_ holdings: StoreHoldings) -> [(ImageInfo, CatalogueImage)] {
        holdings.images.sorted { $0.name < $1.name }.compactMap { info in
            guard let image = catalogue[info.name], image.stores.contains(holdings.store),
                  image.checksum != nil || image.osHashValue != nil, image.size == nil || image.size == info.size else { return nil }
            return (info, image)
        }
    }

    /// The comparison of a copy's digests with Glance's record; nil when they agree.
    public func checksumFinding(store: String, image: CatalogueImage, size: UInt64, digests: ImageDigests) -> AuditFinding? {
        let md5Differs = image.checksum.map { $0.lowercased() != digests.checksum } ?? false
        let hashDiffers = image.osHashValue.map { $0.lowercased() != digests.multihash } ?? false
        guard md5Differs || hashDiffers else { return nil }
        return AuditFinding(store: store, image: image.id, kind: .checksumMismatch, evidence: [
            ("size", .number(size)),
            ("glance_checksum", .text(image.checksum ?? "none")), ("store_checksum", .text(digests.checksum)),
            ("os_hash_algo", .text(image.osHashAlgo ?? ImageDigests.algorithm)),
            ("glance_os_hash_value", .text(image.osHashValue ?? "none")), ("store_os_hash_value", .text(digests.multihash)),
            ("location", .text(image.location(in: store).map(Redact.location) ?? "(not shown)")),
        ])
    }

    /// Files of Glance's staging store (`<id>`, or `<id>.<format>` of the conversion plugin): data of
    /// an import waiting for its `import` call, else a leftover (a failed import or copy-image).
    public func stagingFindings(store: String, files: [ImageInfo]) -> [AuditFinding] {
        files.sorted { $0.name < $1.name }.compactMap { file in
            let id = String(file.name.split(separator: ".").first ?? "")
            if let image = catalogue[id], ["uploading", "importing"].contains(image.status) || activeImports.contains(id) { return nil }
            return AuditFinding(store: store, image: id.isEmpty ? file.name : id, kind: .leftover, evidence: [
                ("what", .text("staged data of an import that is not going on")), ("name", .text(file.name)),
                ("size", .number(file.size)), ("modified", .text(Self.text(file.modificationTime))),
                ("glance_status", .text(catalogue[id]?.status ?? "unknown")),
            ])
        }
    }

    /// Files of the tasks store: work files of tasks; none should outlive its task.
    public func tasksStoreFindings(store: String, files: [ImageInfo]) -> [AuditFinding] {
        files.sorted { $0.name < $1.name }.compactMap { file in
            if now.seconds - file.modificationTime.seconds < Self.inProgressAge { return nil }
            return AuditFinding(store: store, image: file.name, kind: .leftover, evidence: [
                ("what", .text("work file of a task, over an hour old")), ("name", .text(file.name)),
                ("size", .number(file.size)), ("modified", .text(Self.text(file.modificationTime))),
            ])
        }
    }

    /// `os_glance_importing_to_stores` naming a store no running task writes to: a copy or import
    /// that failed and left the marker (reserved: not removable through the API; Glance 25 still
    /// accepts another copy to that store).
    public func markerFindings(tasks: [String: [CatalogueTask]], audited: Set<String>) -> [AuditFinding] {
        var findings: [AuditFinding] = []
        for image in catalogue.values.sorted(by: { $0.id < $1.id }) where !image.importingToStores.isEmpty {
            guard !activeImports.contains(image.id), let imageTasks = tasks[image.id] else { continue }
            for store in image.importingToStores where audited.contains(store) {
                var evidence: [(String, AuditFinding.Value)] = [
                    ("what", .text("stale os_glance_importing_to_stores marker")),
                    ("marker", .text(image.importingToStores.joined(separator: ","))), ("glance_status", .text(image.status)),
                ]
                if let last = imageTasks.first {
                    evidence.append(("last_task", .text("\(last.id) \(last.status)")))
                    if let message = last.message, !message.isEmpty { evidence.append(("task_message", .text(message))) }
                }
                findings.append(AuditFinding(store: store, image: image.id, kind: .leftover, evidence: evidence))
            }
        }
        return findings
    }

    private func mayBeWriting(_ image: CatalogueImage, _ modified: Timestamp) -> Bool {
        if activeImports.contains(image.id) { return true }
        return ["saving", "uploading", "importing", "queued"].contains(image.status) && now.seconds - modified.seconds < Self.inProgressAge
    }

    static func leftover(store: String, _ leftover: StoreLeftover) -> AuditFinding {
        var evidence: [(String, AuditFinding.Value)] = [("what", .text(leftover.kind)), ("name", .text(leftover.name))]
        if let size = leftover.size { evidence.append(("size", .number(size))) }
        if let modified = leftover.modified { evidence.append(("modified", .text(text(modified)))) }
        // Named by its image when it has one, else by the last part of its backend name.
        let image = leftover.image.flatMap { $0.isEmpty ? nil : $0 }
            ?? leftover.name.split(separator: "/").last.map(String.init) ?? leftover.name
        return AuditFinding(store: store, image: image, kind: .leftover, evidence: evidence)
    }

    /// UTC, to the second, as Glance writes its times.
    static func text(_ time: Timestamp) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: Date(timeIntervalSince1970: TimeInterval(time.seconds)))
    }
}
