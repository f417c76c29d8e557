// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "glance-storefs",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "glance-storefs", targets: ["glance-storefs"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        // OpenSSL's libcrypto (Debian libssl-dev): MD5 and SHA-512 exactly as Glance computes them.
        .systemLibrary(name: "CLibCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        // Linux system calls Swift's Glibc module does not expose (O_TMPFILE, RENAME_NOREPLACE).
        .target(name: "CSystemShims"),
        // oslo.config-compatible loading of glance-api.conf, the typed option schema and validation.
        .target(name: "GlanceConfig"),
        // The Store protocol, capabilities, errors, the registry and one folder per driver.
        .target(
            name: "GlanceStore",
            dependencies: [
                "GlanceConfig", "CLibCrypto", "CSystemShims",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The commands (check, stores, ...) as a library, so tests drive them without a subprocess.
        .target(
            name: "StorefsCLI",
            dependencies: [
                "GlanceConfig", "GlanceStore",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(name: "glance-storefs", dependencies: ["StorefsCLI"]),
        .testTarget(name: "GlanceConfigTests", dependencies: ["GlanceConfig"]),
        .testTarget(name: "GlanceStoreTests", dependencies: ["GlanceStore", "GlanceConfig"]),
        .testTarget(name: "StorefsCLITests", dependencies: ["StorefsCLI", "GlanceStore", "GlanceConfig"]),
    ],
    swiftLanguageModes: [.v6]
)
