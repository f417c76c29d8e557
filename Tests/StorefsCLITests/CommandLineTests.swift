import Foundation
import Testing
@testable import StorefsCLI

/// The command line's conventions: help on every command, the version, completion scripts, exit
/// statuses, and the mount(8) form routed to `mount`.
struct CommandLineTests {
    static let commands = ["check", "stores", "audit", "mount"]

    @Test(arguments: commands) func everyCommandHasHelpUnderBothSpellings(_ command: String) {
        let long = StorefsCLI.run([command, "--help"])
        let short = StorefsCLI.run([command, "-h"])
        #expect(long.status == 0 && long.stderr.isEmpty)
        #expect(long == short)
        #expect(long.stdout.contains("USAGE: glance-storefs \(command)"), "\(long.stdout)")
        #expect(long.stdout.contains("--config-file <file>"))
        // `help COMMAND` says the same.
        #expect(StorefsCLI.run(["help", command]).stdout == long.stdout)
    }

    @Test func helpNamesEveryCommandAndTheMountOptions() {
        let top = StorefsCLI.run(["--help"])
        #expect(top.status == 0)
        for command in Self.commands { #expect(top.stdout.contains("  \(command) ")) }
        #expect(top.stdout.contains("CONFIG MOUNTPOINT"))
        let mount = StorefsCLI.run(["mount", "--help"]).stdout
        for option in ["ro", "cache_timeout=SECONDS", "glance_url=URL", "metrics=ADDR:PORT", "nopassthrough", "-f", "--debug"] {
            #expect(mount.contains(option), "mount --help lacks \(option)")
        }
        #expect(!mount.contains("ready-fd"), "the daemon's own option is not for users")
        let audit = StorefsCLI.run(["audit", "--help"]).stdout
        for option in ["--verify", "--json", "--store <id>", "--glance-url <url>", "--parallel <n>", "0 clean, 1 findings, 2 unable"] {
            #expect(audit.contains(option), "audit --help lacks \(option)")
        }
    }

    @Test func versionIsTheOneConstant() {
        #expect(StorefsCLI.run(["--version"]) == CommandOutput(stdout: "glance-storefs \(StorefsCLI.version)\n"))
    }

    @Test(arguments: ["bash", "zsh", "fish"]) func completionScriptsKnowTheCommandsAndOptions(_ shell: String) {
        let script = StorefsCLI.run(["--generate-completion-script", shell])
        #expect(script.status == 0 && script.stderr.isEmpty)
        for word in ["check", "stores", "audit", "mount", "config-file", "verify", "glance-url"] {
            #expect(script.stdout.contains(word), "\(shell) completion lacks \(word)")
        }
    }

    @Test func usageErrorsExitTwoWithTheParsersMessage() {
        let missing = StorefsCLI.run(["audit", "--parallel", "0"])
        #expect(missing.status == 2)
        #expect(missing.stderr.hasPrefix("Error: --parallel needs a number from 1 to 64\n"))
        let url = StorefsCLI.run(["audit", "--glance-url", "ftp://x"])
        #expect(url.status == 2 && url.stderr.hasPrefix("Error: --glance-url needs an http:// or https:// URL\n"))
        let none = StorefsCLI.run([])
        #expect(none.status == 2 && none.stderr.hasPrefix("Error: a command is needed"))
        let unknown = StorefsCLI.run(["frobnicate"])
        #expect(unknown.status == 2 && unknown.stderr.hasPrefix("Error: Unexpected argument 'frobnicate'\n"), "\(unknown.stderr)")
    }

    @Test func theMountFormOfMount8IsTheMountCommand() {
        #expect(StorefsCLI.routingMountForm(["/etc/glance/glance-api.conf", "/mnt/glance", "-o", "ro"])
                == ["mount", "/etc/glance/glance-api.conf", "/mnt/glance", "-o", "ro"])
        #expect(StorefsCLI.routingMountForm(["check", "--config-file", "x"]) == ["check", "--config-file", "x"])
        #expect(StorefsCLI.routingMountForm(["help", "mount"]) == ["help", "mount"])
        #expect(StorefsCLI.routingMountForm(["/mnt/only"]) == ["/mnt/only"])
    }

    @Test func mountArgumentsFromTheParser() throws {
        let f = CLIFixture()
        let config = f.write("[DEFAULT]\n")
        let command = try #require(try GlanceStorefs.parseAsRoot(
            ["mount", config, "/mnt/g", "-oro,allow_other", "-o", "cache_timeout=2,metrics=[::1]:9183,_netdev,nopassthrough", "-d"]) as? Mount)
        let parsed = try MountArguments.make(command, inputs: []).get()
        #expect(parsed.inputs == [.file(config)])
        #expect(parsed.mountpoint == "/mnt/g")
        #expect(parsed.readOnly && parsed.cacheTimeout == 2)
        #expect(parsed.metrics?.host == "::1" && parsed.metrics?.port == 9183)
        #expect(parsed.fuseOptions == ["ro", "allow_other"])
        #expect(!parsed.passthrough)
        #expect(parsed.debug && parsed.foreground)
        // What the daemonizing parent passes its child parses back to the same mount.
        let child = try #require(try GlanceStorefs.parseAsRoot(parsed.childArguments(readyFD: 7)) as? Mount)
        let again = try MountArguments.make(child, inputs: ConfigOptions.inputs(in: parsed.childArguments(readyFD: 7))).get()
        #expect(again.inputs == parsed.inputs && again.mountpoint == parsed.mountpoint && again.readyFD == 7)
        #expect(again.fuseOptions == parsed.fuseOptions && again.metrics?.port == 9183 && again.debug && again.foreground)
    }

    @Test func configFilesAndDirectoriesKeepTheirOrder() {
        let arguments = ["check", "--config-dir", "a", "--config-file=b", "--config-file", "c", "--config-dir=d"]
        #expect(ConfigOptions.inputs(in: arguments) == [.directory("a"), .file("b"), .file("c"), .directory("d")])
    }
}
