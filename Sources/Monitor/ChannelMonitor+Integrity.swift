import Logging
import LookoutCore
import Prometheus

/// The monitor's event contracts: each message on a contracted channel judged, and what it was
/// counted per channel (series, and the minute's tally for the store).
extension ChannelMonitor {
    /// Judges one message on a contracted channel and counts what it was.
    func judge(_ channel: String, payload: [UInt8], at time: Double, in state: inout State) {
        guard let outcome = state.ledger?.record(channel: channel, payload: payload, now: time),
              let label = state.grouping.label(for: channel) else { return }
        let series = Self.integritySeries(label, in: &state, metrics: metrics)
        switch outcome.verdict {
        case .violated(let violation):
            series.invalid[violation.reason]?.increment()
            Self.tally(label, at: time, in: &state) { $0.invalid += 1 }
            emit(.violation(ViolationRecord(at: time, channel: label, violation: violation,
                                            payload: Array(payload.prefix(configuration.violationPayloadBytes)))))
            violationLog { suppressed in
                logger.warning("event contract broken", metadata: [
                    "channel": "\(channel)", "reason": "\(violation.reason.rawValue)", "pointer": "\(violation.pointer)",
                    "message": "\(violation.message)", "source": "\(violation.identity.source ?? "")", "id": "\(violation.identity.id ?? "")",
                    "suppressed": "\(suppressed)",
                ])
            }
        case .accepted:
            metrics.eventTypes(label, type: outcome.typeLabel.type, version: outcome.typeLabel.version).increment()
            if outcome.duplicate {
                series.duplicates.increment()
                Self.tally(label, at: time, in: &state) { $0.duplicates += 1 }
            }
            switch outcome.sequence {
            case .outOfOrder:
                series.outOfOrder.increment()
                Self.tally(label, at: time, in: &state) { $0.outOfOrder += 1 }
            case .restart: series.restarts.increment()
            case .untracked: metrics.integrityUntrackedEvents.increment()
            default: break
            }
        }
    }

    /// Merges a sampled payload of a channel without a contract into its shape; a field or a
    /// type that appears once the shape has settled is a shape change (counted and logged).
    func inferShape(_ channel: String, payload: [UInt8], in state: inout State) {
        guard !configuration.ownChannels.contains(channel), let label = state.grouping.label(for: channel),
              label != ChannelGrouping.overflowLabel else { return }
        let known = state.shapes.shapes[label] != nil
        let added = state.shapes.merge(payload, into: label)
        // The series starts at 0 with the channel's shape, so that the first change is an increase.
        if !known && state.shapes.shapes[label] != nil { _ = metrics.shapeChanges(label) }
        guard let added else { return }
        metrics.shapeChanges(label).increment()
        logger.notice("payload shape changed", metadata: ["channel": "\(label)", "added": "\(added.joined(separator: ", "))"])
    }

    static func tally(_ label: String, at time: Double, in state: inout State, _ change: (inout IntegrityCounts) -> Void) {
        change(&state.integrityTally[label, default: IntegrityCounts(channel: label, minute: Int64(time / 60) * 60)])
    }

    static func integritySeries(_ label: String, in state: inout State, metrics: MonitorMetrics) -> MonitorMetrics.IntegritySeries {
        if let existing = state.integritySeries[label] { return existing }
        let created = metrics.integritySeries(for: label)
        state.integritySeries[label] = created
        return created
    }
}
