// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "glance-storefs",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "glance-storefs", targets: ["glance-storefs"]),
        .executable(name: "storefs-fuzz", targets: ["storefs-fuzz"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        // HTTP/1.1 client on SwiftNIO: connection pools, streaming bodies, TLS (NIOSSL), redirects, proxies.
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        // The command line: subcommands, --help on each, shell completion scripts.
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        // Metrics as swift-metrics records them, served in Prometheus' text format (-o metrics=).
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // OpenSSL's libcrypto (Debian libssl-dev): MD5 and SHA-512 exactly as Glance computes them.
        .systemLibrary(name: "CLibCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        // libfuse3's low-level API (Debian libfuse3-dev).
        .systemLibrary(name: "CFuse", pkgConfig: "fuse3", providers: [.apt(["libfuse3-dev"])]),
        // librbd / librados (Debian librbd-dev, librados-dev): the rbd store's driver.
        .systemLibrary(name: "CRBD", providers: [.apt(["librbd-dev", "librados-dev"])]),
        // libnfs (Debian libnfs-dev): the cinder store's NFS transport, NFSv3 in user space.
        .systemLibrary(name: "CNFS", providers: [.apt(["libnfs-dev"])]),
        // libxml2 (Debian libxml2-dev): vSphere's SOAP answers, read with its xmlReader API.
        .systemLibrary(name: "CXML2", pkgConfig: "libxml-2.0", providers: [.apt(["libxml2-dev"])]),
        // Reads into librbd's own buffers through its C++ API (Debian libradospp-dev's headers), which the C
        // API would copy into ours: C functions for Swift.
        .target(
            name: "CRBDReads",
            linkerSettings: [.linkedLibrary("rbd"), .linkedLibrary("rados")]
        ),
        // Linux system calls Swift's Glibc module does not expose (O_TMPFILE, RENAME_NOREPLACE).
        .target(name: "CSystemShims"),
        // oslo.config-compatible loading of glance-api.conf, the typed option schema and validation.
        .target(name: "GlanceConfig"),
        // What stores say, without I/O: image names and infos, errors, index pages, Swift listings,
        // vSphere's SOAP answers (the parsers the fuzzers drive, with nothing but libxml2 to build).
        .target(name: "StoreFormats", dependencies: ["CXML2"]),
        // The Store protocol, capabilities, errors, the registry and one folder per driver.
        .target(
            name: "GlanceStore",
            dependencies: [
                "GlanceConfig", "StoreFormats", "CLibCrypto", "CSystemShims", "CRBD", "CRBDReads", "CNFS",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ]
        ),
        // The file system without FUSE: tree, inodes, handles, write sessions, xattrs, errno mapping.
        .target(
            name: "StoreFS",
            dependencies: ["GlanceStore", "CSystemShims", .product(name: "Logging", package: "swift-log"),
                           .product(name: "CoreMetrics", package: "swift-metrics")]
        ),
        // `-o metrics=ADDR:PORT`: the Prometheus registry behind swift-metrics and its HTTP endpoint.
        .target(
            name: "StoreMetrics",
            dependencies: [
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        // Stores against Glance's catalogue: orphans, missing copies, mismatches, leftovers (`audit`).
        .target(name: "StoreAudit", dependencies: ["GlanceStore", "GlanceConfig", .product(name: "Logging", package: "swift-log")]),
        // The thin libfuse adapter over StoreFS and the session (mount, loop, unmount).
        .target(
            name: "StoreFUSE",
            dependencies: ["StoreFS", "GlanceStore", "CFuse", "CSystemShims", .product(name: "Logging", package: "swift-log"),
                           .product(name: "CoreMetrics", package: "swift-metrics")]
        ),
        // The commands (check, stores, mount) as a library, so tests drive them without a subprocess.
        .target(
            name: "StorefsCLI",
            dependencies: [
                "GlanceConfig", "GlanceStore", "StoreFS", "StoreFUSE", "StoreAudit", "StoreMetrics", "CSystemShims",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // tcmalloc (Debian libgoogle-perftools-dev) instead of glibc's malloc for the daemon: librados
        // allocates every object read (8 MiB) on its messenger threads and the reader frees it on
        // another; glibc's arenas kept ~340 MiB of such freed buffers after a 1 GiB read (no faster).
        .executableTarget(
            name: "glance-storefs", dependencies: ["StorefsCLI"],
            linkerSettings: [.linkedLibrary("tcmalloc_minimal")]
        ),
        // The parsers of untrusted input and what must hold for any input; the fuzzer (scripts/fuzz.sh)
        // and the corpus replay of the test suite both run them.
        .target(name: "FuzzTargets", dependencies: ["GlanceConfig", "StoreFormats"]),
        .target(name: "CLibFuzzer"),
        .executableTarget(name: "storefs-fuzz", dependencies: ["FuzzTargets", "CLibFuzzer"]),
        .testTarget(name: "GlanceConfigTests", dependencies: ["GlanceConfig"]),
        .testTarget(name: "GlanceStoreTests", dependencies: ["GlanceStore", "GlanceConfig"]),
        .testTarget(name: "StoreFSTests", dependencies: ["StoreFS", "GlanceStore", "GlanceConfig"]),
        // Drives the built `glance-storefs` binary against real mounts (needs root and /dev/fuse).
        .testTarget(name: "MountTests", dependencies: []),
        .testTarget(name: "StorefsCLITests", dependencies: ["StorefsCLI", "StoreFUSE", "GlanceStore", "GlanceConfig"]),
        .testTarget(name: "StoreAuditTests", dependencies: ["StoreAudit", "GlanceStore", "GlanceConfig", "StoreFormats"]),
        .testTarget(name: "FuzzCorpusTests", dependencies: ["FuzzTargets", "GlanceConfig", "StoreFormats"], exclude: ["corpus"]),
    ],
    swiftLanguageModes: [.v6]
)
