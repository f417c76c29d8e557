import CoreMetrics
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus

/// `-o metrics=ADDR:PORT`: swift-metrics bootstrapped with a Prometheus registry, served in the text
/// exposition format at `GET /metrics` on that address. Started before any store opens (the meters
/// bind to the factory in place when they are made), once per process.
public final class MetricsEndpoint: Sendable {
    public let registry: PrometheusCollectorRegistry
    private let channel: any Channel
    /// "host:port" as bound (port 0 asks the system for one).
    public let boundAddress: String

    /// Store request latencies span a cached stat (microseconds) to an rbd object or a Swift segment
    /// over a slow link (seconds).
    static let latencyBuckets: [Duration] = [
        .microseconds(100), .microseconds(500), .milliseconds(1), .milliseconds(5), .milliseconds(10),
        .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
        .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10), .seconds(30),
    ]

    /// Binds (a port in use or an address not on this host fails here, before anything is mounted)
    /// and serves.
    public static func start(host: String, port: Int) throws -> MetricsEndpoint {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = latencyBuckets
        MetricsSystem.bootstrap(factory)
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 16)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMap {
                    channel.pipeline.addHandler(ScrapeHandler(registry: registry))
                }
            }
        let channel = try bootstrap.bind(host: host, port: port).wait()
        let bound = channel.localAddress.map { address -> String in
            let ip = address.ipAddress ?? host
            return (ip.contains(":") ? "[\(ip)]" : ip) + ":\(address.port ?? port)"
        } ?? "\(host):\(port)"
        return MetricsEndpoint(registry: registry, channel: channel, boundAddress: bound)
    }

    private init(registry: PrometheusCollectorRegistry, channel: any Channel, boundAddress: String) {
        self.registry = registry
        self.channel = channel
        self.boundAddress = boundAddress
    }

    public func stop() { try? channel.close().wait() }

    /// `ADDR:PORT`, `[IPv6]:PORT`: nil when it is not one.
    public static func parseAddress(_ text: String) -> (host: String, port: Int)? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
              (0...65535).contains(port) else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty, !host.contains(" ") else { return nil }
        return (host, port)
    }

    /// The `# HELP` lines: swift-metrics has no place for them, so they go in at scrape time.
    static let help: [String: String] = [
        "glance_storefs_read_bytes_total": "Image bytes returned to readers through the mount, per store.",
        "glance_storefs_written_bytes_total": "Image bytes taken from writers through the mount, per store.",
        "glance_storefs_images_published_total": "Images made visible under their name, per store.",
        "glance_storefs_images_aborted_total": "Image writes given up with nothing published, per store.",
        "glance_storefs_readahead_bytes": "Bytes held by read-ahead (fetched or being fetched) for open readers, per store.",
        "glance_storefs_store_requests_total": "Requests of the file system to a store, by operation and outcome (ok or the errno's name).",
        "glance_storefs_store_request_duration_seconds": "Time a store took to answer a request of the file system, by operation.",
        "glance_storefs_fuse_requests_in_flight": "FUSE requests of this mount being answered now.",
    ]

    static func exposition(_ registry: PrometheusCollectorRegistry) -> String {
        var lines: [Substring] = []
        for line in registry.emitToString().split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("# TYPE "), let name = line.dropFirst(7).split(separator: " ").first, let text = help[String(name)] {
                lines.append(Substring("# HELP \(name) \(text)"))
            }
            lines.append(line)
        }
        return lines.joined(separator: "\n")
    }
}

/// One request, one answer, then the connection closes (a scraper opens one per scrape).
private final class ScrapeHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let registry: PrometheusCollectorRegistry

    init(registry: PrometheusCollectorRegistry) { self.registry = registry }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .head(let head) = unwrapInboundIn(data) else { return }
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        let status: HTTPResponseStatus
        let body: String
        if head.method != .GET && head.method != .HEAD {
            (status, body) = (.methodNotAllowed, "GET /metrics\n")
        } else if path == "/metrics" {
            (status, body) = (.ok, MetricsEndpoint.exposition(registry))
        } else {
            (status, body) = (.notFound, "glance-storefs serves /metrics\n")
        }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: status == .ok ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain")
        headers.add(name: "Content-Length", value: "\(body.utf8.count)")
        headers.add(name: "Connection", value: "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: status, headers: headers))), promise: nil)
        if head.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
        }
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in context.close(promise: nil) }
    }
}
