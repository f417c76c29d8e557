import Testing
@testable import GlanceConfig

/// Reference §7: oslo.config's INI rules, each observed case with its exact value.
struct IniParserTests {
    static func value(_ line: String) throws -> String {
        let parsed = try IniParser.parse("[s]\n" + line + "\n", file: "t.conf").get()
        return try #require(parsed.last).value
    }

    @Test(arguments: [
        ("store_description = \"Shared filesystem store\"", "Shared filesystem store"),
        ("store_description = 'Shared filesystem store'", "Shared filesystem store"),
        ("store_description = \"  padded  \"", "  padded  "),
        ("store_description = \"a\" \"b\"", "a\" \"b"),
        ("store_description = \"", ""),
        ("store_description = \"mismatch'", "\"mismatch'"),
        ("store_description = Shared \"filesystem\" store", "Shared \"filesystem\" store"),
        ("store_description: via colon", "via colon"),
        ("store_description = a:b=c", "a:b=c"),
        ("foo = foo # bar", "foo # bar"),
        ("foo = foo ; bar", "foo ; bar"),
        ("foo =", ""),
        ("foo =    spaced   ", "spaced"),
    ])
    func quotingAndSeparators(line: String, expected: String) throws {
        #expect(try Self.value(line) == expected)
    }

    @Test func firstSeparatorWins() throws {
        let parsed = try IniParser.parse("[s]\na:b=c\n", file: "t.conf").get()
        #expect(parsed[0].key == "a")
        #expect(parsed[0].value == "b=c")
    }

    @Test func continuationLinesJoinWithNewline() throws {
        let parsed = try IniParser.parse("[s]\nk = line1\n  line2\n\tline3\n", file: "t.conf").get()
        #expect(parsed[0].value == "line1\nline2\nline3")
    }

    @Test func indentedHashIsAContinuationNotAComment() throws {
        let parsed = try IniParser.parse("[s]\nk = line1\n  # not a comment\n", file: "t.conf").get()
        #expect(parsed[0].value == "line1\n# not a comment")
    }

    @Test func commentsAreFullLinesOnly() throws {
        let parsed = try IniParser.parse("# c\n[s]\n; c2\nk = v\n#k = w\n", file: "t.conf").get()
        #expect(parsed.map(\.value) == ["v"])
    }

    @Test func blankLineEndsAValue() throws {
        #expect(throws: IniParseError.self) { try IniParser.parse("[s]\nk = v\n\n  more\n", file: "t.conf").get() }
    }

    @Test func lineNumbersAndFilesAreKept() throws {
        let parsed = try IniParser.parse("\n[s]\n\nk = v\n", file: "/etc/x.conf").get()
        #expect(parsed[0].location == SourceLocation(file: "/etc/x.conf", line: 4))
        #expect(parsed[0].location.description == "/etc/x.conf:4")
    }

    @Test(arguments: [
        ("  cont\n", "Unexpected continuation line", 1),
        ("[s\n", "Invalid section (must end with ])", 1),
        ("[]\n", "Empty section name", 1),
        ("[s]\nnovalue\n", "No ':' or '=' found in assignment", 2),
        ("[s]\n = v\n", "Unexpected continuation line", 2),
        ("[s]\n= v\n", "Key cannot be empty", 2),
        ("k = v\n", "Section must be started before assignment", 1),
    ])
    func syntaxErrors(text: String, message: String, line: Int) {
        switch IniParser.parse(text, file: "bad.conf") {
        case .success: Issue.record("expected \(message)")
        case .failure(let error):
            #expect(error.message == message)
            #expect(error.location.line == line)
            #expect(error.location.file == "bad.conf")
        }
    }

    @Test func crlfLineEndingsAreAccepted() throws {
        let parsed = try IniParser.parse("[s]\r\nk = v\r\n", file: "t.conf").get()
        #expect(parsed[0].value == "v")
    }
}
