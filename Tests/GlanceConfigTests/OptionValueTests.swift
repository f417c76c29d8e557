import Testing
@testable import GlanceConfig

/// Reference §1.2 (Dict) and §7 (types), each observed case with its exact value.
struct OptionValueTests {
    @Test(arguments: [
        ("fast:file, slow : file ,web:http", [("fast", "file"), ("slow", "file"), ("web", "http")]),
        ("", []),
        ("a:file:extra", [("a", "file:extra")]),
        ("a:\"file\"", [("a", "\"file\"")]),
        ("a:file,\n  b:http", [("a", "file"), ("b", "http")]),
        ("my store:file", [("my store", "file")]),
        ("Fast:file", [("Fast", "file")]),
        ("a:file, b, c:http", [("a", "file"), ("b, c", "http")]),
    ])
    func dictValues(raw: String, expected: [(String, String)]) throws {
        let parsed = try OptionParsing.dict(raw).value
        #expect(parsed == OrderedPairs(expected.map { (key: $0.0, value: $0.1) }))
    }

    @Test func dictReportsGluedPieces() throws {
        #expect(try OptionParsing.dict("a:file, b, c:http").gluedPieces == ["b"])
        #expect(try OptionParsing.dict("a:file, b:http").gluedPieces == [])
    }

    @Test(arguments: [
        ("a:file, a:http", "Duplicate key a"),
        ("a:file,", "Value should be NAME:VALUE pairs separated by \",\""),
        ("a:file, b", "Value should be NAME:VALUE pairs separated by \",\""),
        (":file", "Key name should not be empty"),
    ])
    func dictErrors(raw: String, message: String) {
        #expect(throws: OptionValueError(message: message)) { try OptionParsing.dict(raw) }
    }

    @Test(arguments: [("true", true), ("TRUE", true), ("1", true), ("on", true), ("Yes", true),
                      ("false", false), ("0", false), ("off", false), ("NO", false)])
    func bools(raw: String, expected: Bool) throws {
        #expect(try OptionParsing.bool(raw) == expected)
    }

    @Test(arguments: ["y", "t", "2", "", "truee"])
    func badBools(raw: String) {
        #expect(throws: OptionValueError.self) { try OptionParsing.bool(raw) }
    }

    @Test(arguments: [("0644", 644 as Int?), ("  42 ", 42), ("-3", -3), ("+7", 7), ("1_000", 1000), ("", nil)])
    func integers(raw: String, expected: Int?) throws {
        #expect(try OptionParsing.integer(raw) == expected)
    }

    @Test(arguments: ["0o644", "0x10", "5 # five", "1.5", "_1", "1__0", "abc"])
    func badIntegers(raw: String) {
        #expect(throws: OptionValueError.self) { try OptionParsing.integer(raw) }
    }

    @Test func integerBounds() {
        #expect(throws: OptionValueError(message: "should be greater than or equal to 1, got 0")) {
            try OptionParsing.integer("0", min: 1)
        }
        #expect(throws: OptionValueError(message: "should be less than or equal to 32, got 33")) {
            try OptionParsing.integer("33", min: 0, max: 32)
        }
    }

    @Test func lists() {
        #expect(OptionParsing.list("a, b ,c,") == ["a", "b", "c"])
        #expect(OptionParsing.list("") == [])
        #expect(OptionParsing.list("\"a,b\", c") == ["\"a", "b\"", "c"])
    }

    @Test func hostAddresses() throws {
        #expect(try OptionParsing.hostAddress("127.0.0.1") == "127.0.0.1")
        #expect(try OptionParsing.hostAddress("vcenter.example.org") == "vcenter.example.org")
        #expect(try OptionParsing.hostAddress("::1") == "::1")
        #expect(throws: OptionValueError.self) { try OptionParsing.hostAddress("not a host") }
        #expect(throws: OptionValueError.self) { try OptionParsing.hostAddress("300.1.1.1") }
    }
}
