import Foundation
import Logging
import Synchronization

/// Read attachments, one per volume, shared by every open reader of its image (a volume that is not
/// multi-attach takes one attachment at a time) and deleted once no reader used it for
/// `idleRelease`, or when the mount ends (`releaseAll`): a mount leaves no attachment behind.
final class VolumeAttachments: Sendable {
    let api: CinderAPI
    let transports: VolumeTransports
    let idleRelease: Duration

    struct Attached: Sendable {
        let attachmentID: String
        let device: any VolumeDevice
    }

    private struct Entry {
        let attaching: Task<Attached, any Error>
        var users: Int
        /// Bumped at every acquire, so a release timer knows whether it is still the latest.
        var generation = 0
    }

    private let entries = Mutex<[String: Entry]>([:])

    init(api: CinderAPI, transports: VolumeTransports, idleRelease: Duration = .seconds(2)) {
        self.api = api
        self.transports = transports
        self.idleRelease = idleRelease
    }

    /// The volume's device for reading, attaching it (read-only) if no reader holds it.
    func acquire(_ volume: CinderVolume, image: String) async throws(StoreError) -> any VolumeDevice {
        let task: Task<Attached, any Error> = entries.withLock { all in
            if var entry = all[volume.id] {
                entry.users += 1
                entry.generation += 1
                all[volume.id] = entry
                return entry.attaching
            }
            let api = self.api, transports = self.transports
            let attaching = Task { () throws -> Attached in
                let (id, connection) = try await api.attach(volume.id, readOnly: true, image: image)
                do {
                    let device = try await transports.open(connection, readOnly: true, image: image)
                    return Attached(attachmentID: id, device: device)
                } catch {
                    try? await api.detach(id)
                    throw error
                }
            }
            all[volume.id] = Entry(attaching: attaching, users: 1)
            return attaching
        }
        do {
            return try await task.value.device
        } catch {
            entries.withLock { all in
                guard var entry = all[volume.id], entry.attaching == task else { return }
                entry.users -= 1
                if entry.users == 0 { all[volume.id] = nil } else { all[volume.id] = entry }
            }
            throw (error as? StoreError) ?? .backend("attaching volume \(volume.id): \(error)")
        }
    }

    /// A reader is done; the attachment goes once no reader used it for `idleRelease`.
    func release(_ volumeID: String) {
        let generation: Int? = entries.withLock { all in
            guard var entry = all[volumeID] else { return nil }
            entry.users -= 1
            all[volumeID] = entry
            return entry.users == 0 ? entry.generation : nil
        }
        guard let generation else { return }
        Task {
            try? await Task.sleep(for: idleRelease)
            let idle: Task<Attached, any Error>? = entries.withLock { all in
                guard let entry = all[volumeID], entry.users == 0, entry.generation == generation else { return nil }
                all[volumeID] = nil
                return entry.attaching
            }
            guard let idle else { return }
            await detach(idle, volumeID)
        }
    }

    /// Every attachment deleted now (the mount is ending).
    func releaseAll() async {
        let all = entries.withLock { all in
            defer { all = [:] }
            return all
        }
        for (volumeID, entry) in all { await detach(entry.attaching, volumeID) }
    }

    enum Drop { case unattached, detached, inUse }

    /// The volume's read attachment deleted now if no reader uses it (it is only waiting out its idle
    /// time): `.detached` then (Cinder is still detaching it), `.inUse` when a reader of this mount
    /// holds it, `.unattached` when this mount has none.
    func dropIdle(_ volumeID: String) async -> Drop {
        let outcome: (drop: Drop, task: Task<Attached, any Error>?) = entries.withLock { all in
            guard let entry = all[volumeID] else { return (.unattached, nil) }
            guard entry.users == 0 else { return (.inUse, nil) }
            all[volumeID] = nil
            return (.detached, entry.attaching)
        }
        if let task = outcome.task { await detach(task, volumeID) }
        return outcome.drop
    }

    private func detach(_ task: Task<Attached, any Error>, _ volumeID: String) async {
        guard let attached = try? await task.value else { return }
        let id = attached.attachmentID
        do throws(StoreError) {
            try await api.detach(id)
        } catch {
            let api = self.api
            if api.health.retryWhenUp("deleting attachment \(id) of volume \(volumeID)", after: error, { () throws(StoreError) in try await api.detach(id) }) { return }
            api.logger.warning("cannot delete a read attachment", metadata: [
                "store": "\(api.storeID)", "volume": "\(volumeID)", "attachment": "\(id)", "error": "\(error)"])
        }
    }
}
