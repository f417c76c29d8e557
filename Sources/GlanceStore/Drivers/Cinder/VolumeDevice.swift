import CRBD
import Foundation
import Logging
import Synchronization

/// The bytes of an attached volume, reached the way the attachment's `driver_volume_type` says,
/// entirely in user space (no kernel device, no mount, no root helper).
protocol VolumeDevice: Sendable {
    /// `rbd` or `nfs`.
    var transport: String { get }
    /// Up to `count` bytes at `offset`. `sequential`: part of a streaming read.
    func read(at offset: UInt64, count: Int, sequential: Bool) async throws(StoreError) -> ImageBytes
    /// Writes the buffer at `offset`; returns once the backend has taken it.
    func write(at offset: UInt64, _ buffer: ObjectBuffer) async throws(StoreError)
    /// Everything written is stable at the backend.
    func flush() async throws(StoreError)
}

/// How volume bytes are reached, by transport: one Ceph connection per (monitors, user, pool),
/// kept for the store's life; NFS contexts are per open volume (libnfs 4 has one thread per context).
final class VolumeTransports: Sendable {
    let storeID: String
    let timeout: Int
    let logger: Logger
    private let clusters = Mutex<[String: RBDCluster]>([:])

    init(storeID: String, timeout: Int, logger: Logger) {
        self.storeID = storeID
        self.timeout = timeout
        self.logger = logger
    }

    /// Opens the volume the connection names; `image` for messages.
    func open(_ connection: VolumeConnection, readOnly: Bool, image: String) async throws(StoreError) -> any VolumeDevice {
        do throws(StoreError) {
            return try await openDevice(connection, readOnly: readOnly, image: image)
        } catch {
            // The attachment worked and its transport did not: a setting of this host (a key, a
            // route to the monitors or the NFS server), which the operator needs to read about.
            logger.error("cannot reach an attached volume", metadata: [
                "store": "\(storeID)", "image": "\(image)", "transport": "\(connection.driverVolumeType)", "error": "\(error)"])
            throw error
        }
    }

    private func openDevice(_ connection: VolumeConnection, readOnly: Bool, image: String) async throws(StoreError) -> any VolumeDevice {
        // Glance refuses both too: their bytes on the backend are not the image's.
        if connection.encrypted || connection.format == "qcow2" {
            throw .io(errno: EOPNOTSUPP, "volume of \(image): " + (connection.encrypted ? "an encrypted volume" : "a qcow2 volume file") + " is not supported")
        }
        switch connection.driverVolumeType {
        case "rbd": return try await openRBD(connection, readOnly: readOnly, image: image)
        case "nfs": return try await NFSVolumeDevice.open(connection, readOnly: readOnly, timeout: timeout, image: image)
        default:
            logger.error("volume transport not supported", metadata: [
                "store": "\(storeID)", "image": "\(image)", "driver_volume_type": "\(connection.driverVolumeType)"])
            throw .io(errno: EOPNOTSUPP, "volume of \(image): driver_volume_type '\(connection.driverVolumeType)' is not supported (rbd and nfs are)")
        }
    }

    private func openRBD(_ connection: VolumeConnection, readOnly: Bool, image: String) async throws(StoreError) -> any VolumeDevice {
        let parts = connection.name.split(separator: "/", maxSplits: 1).map(String.init)
        guard parts.count == 2 else { throw .backend("rbd connection of \(image): name '\(connection.name)' is not pool/image") }
        let monitors = zip(connection.hosts, connection.ports).map { host, port in
            host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        }.joined(separator: ",")
        let user = connection.authUsername
        let key = "\(monitors)|\(user ?? "")|\(parts[0])"
        let cluster = clusters.withLock { all in
            if let known = all[key] { return known }
            let settings = RBDSettings(pool: parts[0], user: user, monitors: monitors.isEmpty ? nil : monitors, timeout: timeout)
            let made = RBDCluster(settings: settings, storeID: "\(storeID) (pool \(parts[0]))", logger: logger)
            all[key] = made
            return made
        }
        let name = parts[1]
        if readOnly {
            let handle = try await cluster.run { c throws(StoreError) in try RBDReadOnlyImage(c, name) }
            return RBDVolumeDevice(cluster: cluster, reader: handle, writer: nil, timeout: timeout)
        }
        let handle = try await cluster.run { c throws(StoreError) in try RBDImage(c, name, readOnly: false) }
        return RBDVolumeDevice(cluster: cluster, reader: nil, writer: handle, timeout: timeout)
    }
}

/// A volume on RBD through librbd: reads into librbd's own buffers (read-only handle), writes with
/// librbd's asynchronous writes (read-write handle).
final class RBDVolumeDevice: VolumeDevice {
    let transport = "rbd"
    let cluster: RBDCluster
    private let reader: RBDReadOnlyImage?
    private let writer: RBDImage?
    private let timeout: Int

    init(cluster: RBDCluster, reader: RBDReadOnlyImage?, writer: RBDImage?, timeout: Int) {
        self.cluster = cluster
        self.reader = reader
        self.writer = writer
        self.timeout = timeout
    }

    func read(at offset: UInt64, count: Int, sequential: Bool) async throws(StoreError) -> ImageBytes {
        guard let reader else { throw .backend("reading through a write attachment") }
        return try await cluster.health.guarded { () throws(StoreError) in try await reader.read(at: offset, count: count, streaming: sequential) }
    }

    func write(at offset: UInt64, _ buffer: ObjectBuffer) async throws(StoreError) {
        guard let writer else { throw .backend("writing through a read-only attachment") }
        let name = writer.name
        let sent = Task { await RBDAsync.write(writer, offset: offset, buffer.bytes) }
        try await cluster.health.guarded { () throws(StoreError) in
            // librbd may chain operations each bounded by the timeout: the writer waits one, and a second.
            guard let rc = await awaitAtMost(seconds: Double(timeout) + 1, sent) else { throw .timedOut("writing \(name)") }
            if rc < 0 { throw RBDCluster.error(Int32(rc), image: name, "writing") }
        }
        // The buffer goes back to its pool after this returns: librbd must be done with it.
        _ = await sent.value
    }

    func flush() async throws(StoreError) {
        guard let writer else { return }
        let name = writer.name
        try await cluster.run { _ throws(StoreError) in
            let rc = rbd_flush(writer.handle)
            guard rc == 0 else { throw RBDCluster.error(rc, image: name, "flushing") }
        }
    }
}
