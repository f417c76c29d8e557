import CSystemShims
import Foundation
import Glibc
import GlanceConfig
import GlanceStore
import Logging
import StoreFS
import StoreFUSE
import StoreMetrics
import ArgumentParser

extension StorefsCLI {
    /// `mount`: every problem found before mounting is one line on stderr and a non-zero exit, with
    /// nothing mounted. Without `-f`, a foreground child is started in its own session and the
    /// command returns once the child says the mount is up (or with its failure).
    static func mount(_ command: Mount, arguments: [String], home: String) -> Int32 {
        FuseMount.blockTerminationSignals()
        let parsed: MountArguments
        switch MountArguments.make(command, inputs: ConfigOptions.inputs(in: arguments, absolute: true)) {
        case .success(let p): parsed = p
        case .failure(let e): return printed(failure(ValidationError(e.message)))  // validate() saw it first
        }
        let configuration: GlanceConfiguration
        switch loadConfiguration(parsed.inputs, home: home) {
        case .failure(let output):
            fail(output.stderr)
            return output.status
        case .success(let c): configuration = c
        }
        if let problem = mountpointProblem(parsed.mountpoint) ?? fuseDeviceProblem() {
            fail("glance-storefs: \(problem)\n")
            return 1
        }
        guard parsed.foreground else { return daemonize(parsed) }
        return serve(parsed, configuration)
    }

    private static func fail(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }

    // MARK: Checks before mounting

    static func mountpointProblem(_ path: String) -> String? {
        var st = stat()
        guard stat(path, &st) == 0 else { return "mount point \(path): \(String(cString: strerror(errno)))" }
        guard st.st_mode & S_IFMT == S_IFDIR else { return "mount point \(path): Not a directory" }
        if let type = mountedType(at: path) { return "mount point \(path) is busy: \(type) is already mounted there" }
        return nil
    }

    /// The file-system type mounted exactly at `path`, from /proc/self/mountinfo.
    static func mountedType(at path: String) -> String? {
        guard let table = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) else { return nil }
        for line in table.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count > 4, let dash = fields.firstIndex(of: "-"), dash + 1 < fields.count else { continue }
            if unescapeMountinfo(String(fields[4])) == path { return String(fields[dash + 1]) }
        }
        return nil
    }

    /// mountinfo writes space, tab, newline and backslash as \ooo.
    static func unescapeMountinfo(_ text: String) -> String {
        var bytes: [UInt8] = []
        var utf8 = Array(text.utf8)[...]
        while let byte = utf8.popFirst() {
            if byte == UInt8(ascii: "\\"), utf8.count >= 3, let code = UInt8(String(decoding: utf8.prefix(3), as: UTF8.self), radix: 8) {
                bytes.append(code)
                utf8 = utf8.dropFirst(3)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func fuseDeviceProblem(_ device: String = "/dev/fuse") -> String? {
        var st = stat()
        guard stat(device, &st) == 0, st.st_mode & S_IFMT == S_IFCHR else {
            return "\(device) is missing: this machine needs the kernel's FUSE module (modprobe fuse) and the device"
        }
        guard access(device, R_OK | W_OK) == 0 else { return "\(device): \(String(cString: strerror(errno)))" }
        return nil
    }

    // MARK: Daemon

    private static func daemonize(_ parsed: MountArguments) -> Int32 {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else {
            fail("glance-storefs: pipe: \(String(cString: strerror(errno)))\n")
            return 1
        }
        _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let arguments = [executable] + parsed.childArguments(readyFD: fds[1])
        var cArguments: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { cArguments.forEach { free($0) } }
        let pid = storefs_spawn_daemon(executable, &cArguments)
        close(fds[1])
        guard pid > 0 else {
            fail("glance-storefs: cannot start the daemon: \(String(cString: strerror(-pid)))\n")
            close(fds[0])
            return 1
        }
        var buffer = [UInt8](repeating: 0, count: 16)
        let n = read(fds[0], &buffer, buffer.count)
        close(fds[0])
        if n > 0 && buffer.starts(with: Array("ok".utf8)) { return 0 }
        // The child failed before mounting and said why on the stderr we share.
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        let code = (status >> 8) & 0xff
        return code == 0 ? 1 : code
    }

    // MARK: Serving

    private static func serve(_ parsed: MountArguments, _ configuration: GlanceConfiguration) -> Int32 {
        let daemon = parsed.readyFD != nil
        let level: Logger.Level = parsed.debug ? .debug : .info
        LoggingSystem.bootstrap { label in
            if daemon {
                var handler = SyslogLogHandler(label: label)
                handler.logLevel = level
                return handler
            }
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "glance-storefs")
        for warning in configuration.warnings { logger.warning("\(warning.description)") }

        // Before any store opens: their meters bind to the metrics backend in place when they are made.
        var metrics: MetricsEndpoint?
        if let address = parsed.metrics {
            do {
                metrics = try MetricsEndpoint.start(host: address.host, port: address.port)
                logger.info("metrics served", metadata: ["url": "http://\(metrics!.boundAddress)/metrics"])
            } catch {
                fail("glance-storefs: -o metrics=\(address.host):\(address.port): cannot serve there: \(error)\n")
                return 1
            }
        }
        defer { metrics?.stop() }

        let registry: StoreRegistry
        do throws(StoreError) {
            registry = try StoreRegistry(configuration: configuration, logger: logger)
        } catch {
            fail("glance-storefs: \(error)\n")
            return 1
        }
        var staging: StagingArea?
        if let datadir = configuration.reserved.first(where: { $0.id == "os_glance_staging_store" })?.file?.directories.first?.path {
            do throws(FSError) { staging = try StagingArea(datadir: datadir, logger: logger) } catch {
                if !parsed.readOnly {
                    fail("glance-storefs: [os_glance_staging_store] filesystem_store_datadir: cannot create \(datadir)/glance-storefs: \(error)\n")
                    return 1
                }
            }
        }
        var options = MountOptions()
        options.readOnly = parsed.readOnly
        options.cacheTimeout = parsed.cacheTimeout
        let mounted = registry.stores.map { store in
            MountedStore(store: store, description: configuration.stores.first { $0.id == store.id }?.description,
                         isDefault: store.id == registry.defaultStoreID)
        }
        var catalogueSettings = configuration.catalogue
        if let url = parsed.glanceURL { catalogueSettings.glanceURL = url }
        var catalogue: ImageCatalogue?
        if let reason = catalogueSettings.unusableReason {
            logger.info("Glance's catalogue is not asked: user.glance.image.* are absent", metadata: ["reason": "\(reason)"])
        } else {
            catalogue = ImageCatalogue(client: GlanceClient(settings: catalogueSettings), logger: logger)
            catalogue?.prefetch()
        }
        let fs = StoreFilesystem(stores: mounted, staging: staging, options: options, logger: logger, catalogue: catalogue)
        let source = configuration.source.files.first ?? "glance-storefs"
        let fuseOptions = ["fsname=\(source.replacingOccurrences(of: ",", with: "\\,"))", "subtype=glance-storefs"] + parsed.fuseOptions
        do throws(FuseMount.Failure) {
            try FuseMount.run(fs: fs, mountpoint: parsed.mountpoint, options: fuseOptions, logger: logger,
                              traceRequests: parsed.debug, passthrough: parsed.passthrough) {
                guard let fd = parsed.readyFD else { return }
                _ = write(fd, "ok\n", 3)
                close(fd)
                // Detach from the terminal that started us; logs go to syslog from here.
                let null = open("/dev/null", O_RDWR)
                if null >= 0 { for target in [STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO] { dup2(null, target) } }
                if null > STDERR_FILENO { close(null) }
                _ = chdir("/")
            }
        } catch {
            fail("glance-storefs: \(error)\n")
            return 1
        }
        // What the stores hold at their backends (Cinder's read attachments) given back before exit,
        // within a bound: a backend that does not answer must not keep the process.
        let given = DispatchSemaphore(value: 0)
        Task.detached {
            for store in registry.stores { await store.shutdown() }
            given.signal()
        }
        if given.wait(timeout: .now() + 30) == .timedOut { logger.warning("stores did not finish shutting down within 30 s") }
        return 0
    }
}
