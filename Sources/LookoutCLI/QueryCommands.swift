import ArgumentParser
import Foundation
import LookoutCore
import Reports
import Store

#if canImport(Glibc)
import Glibc
#endif

/// What every history query takes: the database and the output format.
struct QueryOptions: ParsableArguments {
    @Option(help: "SQLite database written by lookout serve (opened read-only).")
    var db = "lookout.db"

    @Option(help: "Output: table, json or csv.")
    var format = "table"

    func outputFormat() throws -> OutputFormat {
        guard let format = OutputFormat(rawValue: format) else {
            throw CommandFailure("--format: '\(format)' is not one of table, json, csv", status: Lookout.invalidConfigurationStatus)
        }
        return format
    }

    func reader() throws -> StoreReader {
        do {
            return try StoreReader(path: db)
        } catch {
            throw CommandFailure(error.description)
        }
    }

    func style(now: Double) -> ReportStyle {
        ReportStyle(now: now, sparkline: isatty(1) == 1)
    }

    /// Prints a report and flushes it.
    func emit(_ text: String) {
        FileHandle.standardOutput.write(Data(text.utf8))
    }
}

/// `--since` and `--until`.
struct TimeRangeOptions: ParsableArguments {
    @Option(help: "Start: a duration back from now (15m, 24h, 7d) or an RFC 3339 time.")
    var since: String?

    @Option(help: "End: a duration back from now or an RFC 3339 time (default now).")
    var until = "now"

    func resolve(now: Double, defaultSince: String) throws -> (since: Double, until: Double) {
        let sinceText = since ?? defaultSince
        guard let start = TimeArgument.parse(sinceText, now: now) else {
            throw CommandFailure("--since: '\(sinceText)' is not a duration such as 15m or an RFC 3339 time", status: Lookout.invalidConfigurationStatus)
        }
        guard let end = TimeArgument.parse(until, now: now) else {
            throw CommandFailure("--until: '\(until)' is not a duration such as 15m or an RFC 3339 time", status: Lookout.invalidConfigurationStatus)
        }
        guard start < end else {
            throw CommandFailure("--since must be before --until", status: Lookout.invalidConfigurationStatus)
        }
        return (start, end)
    }
}

/// One query's resolved arguments: the clock, the format, the range and the style.
struct Question {
    let now = Date().timeIntervalSince1970
    let format: OutputFormat
    let since: Double
    let until: Double
    let style: ReportStyle

    init(_ query: QueryOptions, _ range: TimeRangeOptions, defaultSince: String) throws {
        format = try query.outputFormat()
        (since, until) = try range.resolve(now: now, defaultSince: defaultSince)
        style = query.style(now: now)
    }
}

/// `lookout channels`: every channel's traffic over a range.
struct ChannelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "channels", abstract: "Channels and their traffic over a time range (default the last 5 minutes).")

    @OptionGroup var query: QueryOptions
    @OptionGroup var range: TimeRangeOptions

    func run() throws {
        let question = try Question(query, range, defaultSince: "5m")
        let rows = try failing { try query.reader().channels(since: question.since, until: question.until) }
        query.emit(Reports.channels(rows, since: question.since, until: question.until, format: question.format, style: question.style))
    }
}

/// `lookout history CHANNEL`: one channel step by step; `lookout history STREAM --stream-group GROUP`: one Redis Streams consumer group.
struct HistoryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history",
        abstract: "One channel's traffic, or one stream consumer group's figures, step by step (default the last hour).")

    @Argument(help: "Channel (or group label) to show; with --stream-group, the stream.")
    var channel: String

    @Option(help: "Show this consumer group of the stream named by the argument (Redis Streams, from the streams watch).")
    var streamGroup: String?

    @Option(help: "Step: 10s, 1m, 1h… (default 1m, or coarser so that at most 120 rows print).")
    var step: String?

    @OptionGroup var query: QueryOptions
    @OptionGroup var range: TimeRangeOptions

    func run() throws {
        let question = try Question(query, range, defaultSince: "1h")
        let (since, until) = (question.since, question.until)
        var stepSeconds = TimeArgument.defaultStep(since: since, until: until)
        if let step {
            guard let parsed = TimeArgument.step(step) else {
                throw CommandFailure("--step: '\(step)' is not a whole number of seconds such as 10s or 1m", status: Lookout.invalidConfigurationStatus)
            }
            guard (until - since) / Double(parsed) <= 100_000 else {
                throw CommandFailure("--step: '\(step)' gives more than 100000 rows over this range", status: Lookout.invalidConfigurationStatus)
            }
            stepSeconds = parsed
        }
        if let streamGroup {
            let points = try failing {
                try query.reader().streamGroupHistory(stream: channel, group: streamGroup, since: since, until: until, step: stepSeconds)
            }
            query.emit(Reports.streamGroupHistory(stream: channel, group: streamGroup, points, step: stepSeconds, format: question.format,
                                                  style: question.style))
            return
        }
        let points = try failing { try query.reader().history(channel: channel, since: since, until: until, step: stepSeconds) }
        query.emit(Reports.history(channel: channel, points, step: stepSeconds, format: question.format, style: question.style))
    }
}

/// `lookout consumers [NAME]`: every consumer's state, or one consumer with its state changes.
struct ConsumersCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "consumers",
        abstract: "Consumers as last seen; with a NAME, that consumer and its state changes (default the last 24 hours).")

    @Argument(help: "One consumer to show in depth.")
    var name: String?

    @Option(help: "Only this group's consumers.")
    var group: String?

    @OptionGroup var query: QueryOptions
    @OptionGroup var range: TimeRangeOptions

    func run() throws {
        let question = try Question(query, range, defaultSince: "24h")
        let reader = try query.reader()
        if let name {
            let (consumer, transitions) = try failing {
                (try reader.consumer(name), try reader.transitions(consumer: name, since: question.since, until: question.until))
            }
            query.emit(Reports.consumer(consumer, transitions: transitions, format: question.format, style: question.style))
        } else {
            let consumers = try failing { try reader.consumers(group: group) }
            query.emit(Reports.consumers(consumers, format: question.format, style: question.style))
        }
    }
}

/// `lookout alerts`: alerts that fired or were firing in a range, and their deliveries.
struct AlertsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "alerts", abstract: "Alerts active in a time range, and where they were sent (default the last 24 hours).")

    @OptionGroup var query: QueryOptions
    @OptionGroup var range: TimeRangeOptions

    func run() throws {
        let question = try Question(query, range, defaultSince: "24h")
        let alerts = try failing { try query.reader().alerts(since: question.since, until: question.until) }
        query.emit(Reports.alerts(alerts, format: question.format, style: question.style))
    }
}

/// `lookout violations [CHANNEL]`: the contract violations kept (a sample: the first few per
/// channel and minute; `lookout channels` has the exact counts).
struct ViolationsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "violations",
        abstract: "Messages that broke their channel's event contract, newest first (default the last hour; a sample of the first 10 per channel and minute).")

    @Argument(help: "Only this channel (or group label).")
    var channel: String?

    @Option(help: "Only this reason: not_json, too_large, missing_attribute, wrong_type, schema_violation, unknown_type.")
    var reason: String?

    @Option(help: "At most this many (default 1000).")
    var limit = 1000

    @OptionGroup var query: QueryOptions
    @OptionGroup var range: TimeRangeOptions

    func run() throws {
        let question = try Question(query, range, defaultSince: "1h")
        if let reason, ContractViolationReason(rawValue: reason) == nil {
            throw CommandFailure("--reason: '\(reason)' is not one of \(ContractViolationReason.allCases.map(\.rawValue).joined(separator: ", "))",
                                 status: Lookout.invalidConfigurationStatus)
        }
        guard limit > 0 else { throw CommandFailure("--limit must be 1 or more", status: Lookout.invalidConfigurationStatus) }
        let rows = try failing {
            try query.reader().violations(channel: channel, reason: reason, since: question.since, until: question.until, limit: limit)
        }
        query.emit(Reports.violations(rows, format: question.format, style: question.style))
    }
}

/// Runs a query; a store error becomes a one-line failure.
private func failing<T>(_ body: () throws -> T) throws -> T {
    do {
        return try body()
    } catch let error as StoreQueryError {
        throw CommandFailure(error.description)
    }
}
