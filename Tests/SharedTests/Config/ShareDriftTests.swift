import Foundation
import Testing
@testable import Shared

/// share/pgpool.conf.sample and share/doc/configuration.md are generated from the settings table;
/// regenerate them with `poold --sample` and `poold --describe-config` when the table changes.
@Suite struct ShareDriftTests {
    static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<4 { url.deleteLastPathComponent() }
        return url.path
    }()

    @Test func sampleFileMatchesTheTable() throws {
        let text = try String(contentsOfFile: Self.root + "/share/pgpool.conf.sample", encoding: .utf8)
        #expect(text == SettingsDocumentation.sampleFile(), "run: poold --sample > share/pgpool.conf.sample")
    }

    @Test func referenceMatchesTheTable() throws {
        let text = try String(contentsOfFile: Self.root + "/share/doc/configuration.md", encoding: .utf8)
        #expect(text == SettingsDocumentation.reference(), "run: poold --describe-config > share/doc/configuration.md")
    }
}
