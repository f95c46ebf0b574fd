import Testing
@testable import Shared
@Test func version() { #expect(!PooldVersion.version.isEmpty) }
