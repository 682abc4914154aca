import Foundation
import Testing
import LookoutTestSupport

/// `alerts.yml` passes promtool, and its unit-test file covers every rule, firing and not firing.
@Suite struct PrometheusRulesTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let rules = root.appendingPathComponent("alerts.yml").path
    static let ruleTests = root.appendingPathComponent("Tests/PrometheusRules/alerts_test.yml").path

    @Test func promtoolChecksTheRules() async throws {
        let result = try await runCommand(try executable("promtool"), ["check", "rules", Self.rules])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("SUCCESS: 23 rules found"))
    }

    @Test func promtoolUnitTestsPass() async throws {
        let result = try await runCommand("/bin/sh", ["-c", "cd '\(Self.root.path)/Tests/PrometheusRules' && '\(try executable("promtool"))' test rules alerts_test.yml"])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("SUCCESS"))
    }

    @Test func everyRuleIsTestedFiringAndNotFiring() throws {
        let rules = try String(contentsOfFile: Self.rules, encoding: .utf8)
        let names = rules.split(separator: "\n").compactMap { line -> String? in
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            return trimmed.hasPrefix("- alert: ") ? String(trimmed.dropFirst("- alert: ".count)) : nil
        }
        #expect(names.count == 23)
        let lines = try String(contentsOfFile: Self.ruleTests, encoding: .utf8).split(separator: "\n").map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        for name in names {
            let cases = lines.indices.filter { lines[$0] == "alertname: \(name)" && $0 + 1 < lines.count }.map { lines[$0 + 1] }
            #expect(cases.contains("exp_alerts: []"), "\(name) has no not-firing case")
            #expect(cases.contains("exp_alerts:"), "\(name) has no firing case")
        }
    }

    /// The README's Alertmanager inhibit rules, as a user pastes them (with a receiver added), pass amtool.
    @Test func theReadmesInhibitRulesPassAmtool() async throws {
        let readme = try String(contentsOf: Self.root.appendingPathComponent("README.md"), encoding: .utf8)
        let start = try #require(readme.range(of: "# alertmanager.yml\n"))
        let block = String(readme[start.lowerBound..<(readme.range(of: "```", range: start.upperBound..<readme.endIndex)?.lowerBound ?? readme.endIndex)])
        #expect(block.contains("inhibit_rules:"))
        let path = "/tmp/lookout-inhibit-\(UInt32.random(in: 0...UInt32.max)).yml"
        defer { unlink(path) }
        try (block.replacingOccurrences(of: "route:\n", with: "route:\n  receiver: oncall\n") + "receivers:\n  - name: oncall\n")
            .write(toFile: path, atomically: true, encoding: .utf8)
        let result = try await runCommand(try executable("amtool"), ["check-config", path])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("3 inhibit rules"))
    }
}
