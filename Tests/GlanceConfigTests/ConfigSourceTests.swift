import Testing
@testable import GlanceConfig

/// Reference §7 "Section names", "Value resolution", "Files and dirs".
struct ConfigSourceTests {
    @Test func sectionNamesIgnoreCaseExceptDEFAULT() throws {
        let f = ConfigFixture()
        let path = f.write("a.conf", "[FAST]\nx = 1\n[Fast]\ny = 2\n[default]\nenabled_backends = a:file\n[DEFAULT]\nz = 3\n")
        let source = try f.source([.file(path)])
        #expect(source.section("fast").assignments("x").map(\.value) == ["1"])
        #expect(source.section("FAST").assignments("y").map(\.value) == ["2"])
        #expect(source.section("DEFAULT").assignments("enabled_backends").isEmpty)
        #expect(source.section("DEFAULT").assignments("z").map(\.value) == ["3"])
    }

    @Test func keysAreCaseSensitive() throws {
        let f = ConfigFixture()
        let path = f.write("a.conf", "[s]\nSTORE_DESCRIPTION = upper\nstore-description = dashed\n")
        var d = Diagnostics()
        #expect(try f.source([.file(path)]).section("s").read(StoreType.storeDescription, into: &d).value == nil)
    }

    @Test func lastValueWinsWithinAndAcrossFiles() throws {
        let f = ConfigFixture()
        let a = f.write("a.conf", "[s]\nstore_description = one\nstore_description = two\n")
        let b = f.write("b.conf", "[s]\nstore_description = three\n")
        var d = Diagnostics()
        #expect(try f.source([.file(a)]).section("s").read(StoreType.storeDescription, into: &d).value == "two")
        #expect(try f.source([.file(a), .file(b)]).section("s").read(StoreType.storeDescription, into: &d).value == "three")
        #expect(try f.source([.file(b), .file(a)]).section("s").read(StoreType.storeDescription, into: &d).value == "two")
    }

    @Test func multiStringAccumulatesAcrossSectionsAndFiles() throws {
        let f = ConfigFixture()
        let a = f.write("a.conf", "[s]\nfilesystem_store_datadirs = /a:1\n[S]\nfilesystem_store_datadirs = /b:2\n")
        let b = f.write("b.conf", "[s]\nfilesystem_store_datadirs = /c:3\n")
        var d = Diagnostics()
        let value = try f.source([.file(a), .file(b)]).section("s").read(FileOptions.datadirs, into: &d).value
        #expect(value == ["/a:1", "/b:2", "/c:3"])
    }

    @Test func emptyMultiStringIsOneEmptyString() throws {
        let f = ConfigFixture()
        let a = f.write("a.conf", "[s]\nfilesystem_store_datadirs =\n")
        var d = Diagnostics()
        #expect(try f.source([.file(a)]).section("s").read(FileOptions.datadirs, into: &d).value == [""])
    }

    @Test func commandLineOrderDecides() throws {
        let f = ConfigFixture()
        let a = f.write("a.conf", "[s]\nstore_description = from-a\n")
        f.write("d/20-b.conf", "[s]\nstore_description = from-d\n")
        var d = Diagnostics()
        #expect(try f.source([.directory(f.dir + "/d"), .file(a)]).section("s").read(StoreType.storeDescription, into: &d).value == "from-a")
        #expect(try f.source([.file(a), .directory(f.dir + "/d")]).section("s").read(StoreType.storeDescription, into: &d).value == "from-d")
    }

    @Test func configDirReadsSortedConfFilesOnly() throws {
        let f = ConfigFixture()
        f.write("d/Z-upper.conf", "[s]\nstore_description = Z\n")
        f.write("d/20-b.conf", "[s]\nstore_description = 20\n")
        f.write("d/10-a.conf", "[s]\nstore_description = 10\n")
        f.write("d/99-ignored.txt", "[s]\nstore_description = txt\n")
        let source = try f.source([.directory(f.dir + "/d")])
        #expect(source.files.map { ($0 as NSString).lastPathComponent } == ["10-a.conf", "20-b.conf", "Z-upper.conf"])
        var d = Diagnostics()
        #expect(source.section("s").read(StoreType.storeDescription, into: &d).value == "Z")
    }

    @Test func missingFileOrDirectoryIsAnError() {
        guard case .failure(let e1) = ConfigLoader.load([.file("/nonexistent/glance-api.conf")]) else {
            Issue.record("missing file accepted"); return
        }
        #expect(e1.description == "/nonexistent/glance-api.conf: config file not found (--config-file)")
        guard case .failure(let e2) = ConfigLoader.load([.directory("/nonexistent/conf.d")]) else {
            Issue.record("missing dir accepted"); return
        }
        #expect(e2.description == "/nonexistent/conf.d: config directory not found (--config-dir)")
    }

    @Test func syntaxErrorNamesFileAndLine() throws {
        let f = ConfigFixture()
        let a = f.write("a.conf", "[DEFAULT]\nenabled_backends = a:file\n[broken\n")
        guard case .failure(let error) = ConfigLoader.load([.file(a)]) else { Issue.record("accepted"); return }
        #expect(error.description == "\(a):3: Invalid section (must end with ])")
    }

    @Test func defaultsApplyOnlyWhereTheCommandLineIsSilent() throws {
        let f = ConfigFixture()
        f.write(".glance/glance-api.conf", "[s]\n")
        f.write("glance-api.conf.d/a.conf", "[s]\n")
        let home = f.dir
        #expect(ConfigLoader.withDefaults([], home: home).contains(.file(home + "/.glance/glance-api.conf")))
        #expect(ConfigLoader.withDefaults([], home: home).first == .directory(home + "/glance-api.conf.d"))
        #expect(ConfigLoader.withDefaults([.file("/x.conf")], home: home) == [.directory(home + "/glance-api.conf.d"), .file("/x.conf")])
        #expect(!ConfigLoader.withDefaults([.directory("/d")], home: home).contains(.directory(home + "/glance-api.conf.d")))
    }
}

import Foundation
