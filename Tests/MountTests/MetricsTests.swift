import Foundation
import Testing

/// `-o metrics=ADDR:PORT`: Prometheus' text format at /metrics, scraped while images are written and
/// read through the mount; the counters move by exactly what went through.
extension MountSuite { @Suite struct MetricsTests {
    /// The samples of one scrape: `name{labels}` (labels sorted) → value.
    struct Scrape {
        var samples: [String: Double] = [:]
        var text = ""

        init(_ url: String) throws {
            let reply = sh("curl -sS --max-time 5 -D \(NSTemporaryDirectory())/metrics-head \(url)")
            try #require(reply.status == 0, "scrape failed: \(reply.err)")
            text = reply.out
            for line in text.split(separator: "\n") where !line.hasPrefix("#") {
                guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
                var series = String(line[..<space])
                if let open = series.firstIndex(of: "{"), series.hasSuffix("}") {
                    let labels = series[series.index(after: open)..<series.index(before: series.endIndex)]
                        .split(separator: ",").map(String.init).sorted()
                    series = String(series[..<open]) + "{" + labels.joined(separator: ",") + "}"
                }
                samples[series] = value
            }
        }

        /// A sample by name and labels (any order); 0 when the series is not there yet.
        func value(_ name: String, _ labels: [String: String] = [:]) -> Double {
            let key = labels.isEmpty ? name : name + "{" + labels.map { "\($0.key)=\"\($0.value)\"" }.sorted().joined(separator: ",") + "}"
            return samples[key] ?? 0
        }
    }

    static func endpoint(in log: String) -> String? {
        guard let range = log.range(of: #"http://127\.0\.0\.1:[0-9]+/metrics"#, options: .regularExpression) else { return nil }
        return String(log[range])
    }

    @Test func countersMoveByWhatACopyWroteAndAReadRead() throws {
        let demo = Demo()
        let mib = 1 << 20, size = 24 * mib + 12345
        sh("head -c \(size) /dev/urandom > \(demo.dir)/src")
        // port 0: the system's choice, logged. Reads through the daemon, to be counted: what the
        // kernel reads itself by passthrough never reaches it.
        try demo.mount(["metrics=127.0.0.1:0", "nopassthrough"])
        defer { demo.unmount() }
        let url = try #require(Self.endpoint(in: demo.log), "no metrics address in the log: \(demo.log)")
        let store = ["store": "fast"]

        let before = try Scrape(url)
        #expect(before.text.contains("# HELP glance_storefs_fuse_requests_in_flight "))
        #expect(before.value("glance_storefs_written_bytes_total", store) == 0)

        // A copy in 1 MiB writes with pauses, scraped half way: the bytes so far, nothing published yet.
        let writer = try #require(Child(["/usr/bin/python3", "-c", """
            import time
            with open("\(demo.dir)/src", "rb") as src, open("\(demo.path("fast", "copied"))", "wb", buffering=0) as out:
                while piece := src.read(1 << 20):
                    out.write(piece)
                    time.sleep(0.1)
            """], output: demo.dir + "/writer"))
        #expect(waitUntil(seconds: 10) { (try? Scrape(url).value("glance_storefs_written_bytes_total", store)) ?? 0 >= Double(8 * mib) })
        let during = try Scrape(url)
        let written = during.value("glance_storefs_written_bytes_total", store)
        #expect(written >= Double(8 * mib) && written < Double(size))
        #expect(during.value("glance_storefs_images_published_total", store) == 0)
        #expect(writer.wait() == 0)

        let after = try Scrape(url)
        #expect(after.value("glance_storefs_written_bytes_total", store) == Double(size))
        #expect(after.value("glance_storefs_images_published_total", store) == 1)
        #expect(after.value("glance_storefs_store_requests_total", ["store": "fast", "operation": "publish", "outcome": "ok"]) == 1)
        #expect(after.value("glance_storefs_store_requests_total", ["store": "fast", "operation": "write", "outcome": "ok"]) >= 25)
        #expect(after.value("glance_storefs_store_request_duration_seconds_count", ["store": "fast", "operation": "publish"]) == 1)
        #expect(after.value("glance_storefs_store_request_duration_seconds_bucket", ["store": "fast", "operation": "publish", "le": "+Inf"]) == 1)
        #expect(after.value("glance_storefs_fuse_requests_in_flight") == 0)

        // Read back in full: the bytes read move by the image's size (the cheap store untouched).
        #expect(sh("cmp \(demo.dir)/src \(demo.path("fast", "copied"))").status == 0)
        let read = try Scrape(url)
        #expect(read.value("glance_storefs_read_bytes_total", store) == Double(size))
        #expect(read.value("glance_storefs_read_bytes_total", ["store": "cheap"]) == 0)

        // A name that is not there: a stat answered ENOENT, counted by its outcome.
        #expect(sh("ls \(demo.path("cheap", "nothing-here"))").status != 0)
        #expect(try Scrape(url).value("glance_storefs_store_requests_total", ["store": "cheap", "operation": "stat", "outcome": "ENOENT"]) >= 1)

        // A write-only stream that goes back fails with EIO: given up, nothing published.
        sh("""
            python3 -c 'import os
            fd = os.open("\(demo.path("cheap", "broken"))", os.O_WRONLY | os.O_CREAT, 0o644)
            os.write(fd, b"x" * 65536); os.lseek(fd, 0, 0)
            try: os.write(fd, b"y")
            except OSError: pass
            try: os.close(fd)
            except OSError: pass'
            """)
        let aborted = try Scrape(url)
        #expect(aborted.value("glance_storefs_images_aborted_total", ["store": "cheap"]) == 1)
        #expect(aborted.value("glance_storefs_images_published_total", ["store": "cheap"]) == 0)
        #expect(!FileManager.default.fileExists(atPath: demo.datadir("cheap") + "/broken"))

        // Only /metrics is served; the text names no path of the configuration.
        #expect(sh("curl -s -o /dev/null -w '%{http_code}' \(url.replacingOccurrences(of: "/metrics", with: "/other"))").out == "404")
        #expect(!aborted.text.contains(demo.dir))
    }

    @Test func anAddressThatCannotBeServedMountsNothing() throws {
        let demo = Demo()
        try demo.mount(["metrics=127.0.0.1:0"])
        defer { demo.unmount() }
        let url = try #require(Self.endpoint(in: demo.log))
        let taken = url.dropFirst("http://".count).prefix { $0 != "/" }
        let second = Demo()
        let busy = sh("\(storefsBinary) mount --config-file \(second.config) \(second.mountpoint) -o metrics=\(taken)")
        #expect(busy.status == 1)
        #expect(busy.err.hasPrefix("glance-storefs: -o metrics=\(taken): cannot serve there:"), "\(busy.err)")
        #expect(busy.err.split(separator: "\n").count == 1)
        #expect(!isMounted(second.mountpoint))
        let bad = sh("\(storefsBinary) mount --config-file \(second.config) \(second.mountpoint) -o metrics=nowhere")
        #expect(bad.status == 2 && bad.err.hasPrefix("Error: -o metrics needs ADDR:PORT"))
        #expect(!isMounted(second.mountpoint))
    }
}
}
