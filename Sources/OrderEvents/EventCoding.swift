public import Foundation

/// The one JSON setup of the system: ISO-8601 UTC timestamps with milliseconds, snake_case
/// keys written by the types themselves.
public enum EventCoding {
    public static func makeEncoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(formatTimestamp(date))
        }
        return encoder
    }

    public static func makeDecoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            guard let date = parseTimestamp(text).map(wholeMilliseconds) else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "expected an ISO-8601 timestamp, got '\(text)'")
            }
            return date
        }
        return decoder
    }

    /// `2026-11-23T15:38:18.123Z`: UTC, rounded to the millisecond. Written by hand: every
    /// event and every log line carries one, and Foundation's ISO-8601 format style took a
    /// few per cent of a busy worker.
    public static func formatTimestamp(_ date: Date) -> String {
        let milliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded())
        let (seconds, fraction) = (milliseconds.floorDivided(by: 1000), milliseconds.floorModulo(by: 1000))
        let (days, time) = (seconds.floorDivided(by: 86_400), seconds.floorModulo(by: 86_400))
        let (year, month, day) = civilDate(daysSinceEpoch: days)
        var text = ""
        text.reserveCapacity(24)
        func append(_ value: Int64, digits: Int) {
            let decimal = String(value)
            text.append(String(repeating: "0", count: max(0, digits - decimal.count)) + decimal)
        }
        append(year, digits: 4)
        text.append("-")
        append(month, digits: 2)
        text.append("-")
        append(day, digits: 2)
        text.append("T")
        append(time / 3600, digits: 2)
        text.append(":")
        append(time % 3600 / 60, digits: 2)
        text.append(":")
        append(time % 60, digits: 2)
        text.append(".")
        append(fraction, digits: 3)
        text.append("Z")
        return text
    }

    /// The proleptic Gregorian year, month and day `days` after 1970-01-01 (Howard Hinnant's
    /// `civil_from_days`).
    private static func civilDate(daysSinceEpoch days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let shifted = days + 719_468  // from 0000-03-01
        let era = shifted.floorDivided(by: 146_097)
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthFromMarch = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthFromMarch + 2) / 5 + 1
        let month = monthFromMarch < 10 ? monthFromMarch + 3 : monthFromMarch - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    /// The date as events carry it: whole milliseconds, so it survives the wire unchanged.
    public static func wholeMilliseconds(_ date: Date) -> Date {
        Date(timeIntervalSince1970: (date.timeIntervalSince1970 * 1000).rounded() / 1000)
    }

    /// Accepts ISO-8601 with or without fractional seconds.
    public static func parseTimestamp(_ text: String) -> Date? {
        (try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text))
            ?? (try? Date.ISO8601FormatStyle().parse(text))
    }
}

extension Int64 {
    fileprivate func floorDivided(by divisor: Int64) -> Int64 {
        let quotient = self / divisor
        return self % divisor < 0 ? quotient - 1 : quotient
    }

    fileprivate func floorModulo(by divisor: Int64) -> Int64 {
        let remainder = self % divisor
        return remainder < 0 ? remainder + divisor : remainder
    }
}
