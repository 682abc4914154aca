import ArgumentParser
import Foundation
import LookoutCore
import Reports

/// `lookout streams`: the Redis Streams consumer groups a running Lookout watches, as its last
/// poll saw them (from `/api/v1/streams`).
struct StreamsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "streams",
        abstract: "Redis Streams consumer groups a running Lookout watches: lag, pending, oldest unread, poison, lost and dead consumers.")

    @Argument(help: "Only this stream.")
    var stream: String?

    @Option(help: "Only this consumer group.")
    var group: String?

    @OptionGroup var api: LookoutAPIOptions

    @Option(help: "Output: table, json or csv.")
    var format = "table"

    func run() async throws {
        guard let format = OutputFormat(rawValue: format) else {
            throw CommandFailure("--format: '\(format)' is not one of table, json, csv", status: Lookout.invalidConfigurationStatus)
        }
        let api = try self.api.client()
        let answer = try await api.get("/api/v1/streams")
        guard answer.status == 200, let all = Reports.streamGroups(json: answer.body) else {
            throw CommandFailure("\(api.base)/api/v1/streams answered \(answer.status): \(String(decoding: answer.body.prefix(200), as: UTF8.self))")
        }
        let groups = all.filter { (stream == nil || $0.stream == stream) && (group == nil || $0.group == group) }
        if all.isEmpty {
            FileHandle.standardError.write(Data("Lookout at \(api.base) watches no stream: start it with --stream GLOB (sidecar mode)\n".utf8))
        }
        print(Reports.streams(groups, format: format, style: ReportStyle(now: wallClockSeconds())), terminator: "")
    }
}
