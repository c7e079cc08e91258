public import Foundation

/// The one JSON setup of the system: ISO-8601 UTC timestamps with milliseconds, snake_case
/// keys written by the types themselves. (Events are written and read by hand, in the same
/// form: `JSONObjectWriter`, `JSONObjectReader`.)
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

    /// Accepts ISO-8601 with or without fractional seconds. The form this system writes is
    /// read by hand; any other goes to Foundation's format style, which cost a consumer a few
    /// per cent when it read every event's timestamp.
    public static func parseTimestamp(_ text: String) -> Date? {
        if let date = parseWrittenForm(text) { return date }
        return (try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text))
            ?? (try? Date.ISO8601FormatStyle().parse(text))
    }

    /// `formatTimestamp`'s form exactly (`2026-11-23T15:38:18.123Z`, a real date of years
    /// 1 to 9999, seconds below 60); nil for anything else.
    private static func parseWrittenForm(_ text: String) -> Date? {
        var utf8 = text.utf8.makeIterator()
        func number(digits: Int, then separator: UInt8?) -> Int64? {
            var value: Int64 = 0
            for _ in 0..<digits {
                guard let byte = utf8.next(), (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
                value = value * 10 + Int64(byte - UInt8(ascii: "0"))
            }
            if let separator, utf8.next() != separator { return nil }
            return value
        }
        guard text.utf8.count == 24,
            let year = number(digits: 4, then: UInt8(ascii: "-")), let month = number(digits: 2, then: UInt8(ascii: "-")),
            let day = number(digits: 2, then: UInt8(ascii: "T")), let hour = number(digits: 2, then: UInt8(ascii: ":")),
            let minute = number(digits: 2, then: UInt8(ascii: ":")), let second = number(digits: 2, then: UInt8(ascii: ".")),
            let millisecond = number(digits: 3, then: UInt8(ascii: "Z")),
            year >= 1, (1...12).contains(month), day >= 1, hour < 24, minute < 60, second < 60
        else { return nil }
        let days = daysSinceEpoch(year: year, month: month, day: day)
        // A day past its month's end (February 30th) would land in the next month.
        guard civilDate(daysSinceEpoch: days) == (year, month, day) else { return nil }
        let milliseconds = ((days * 86_400 + hour * 3600 + minute * 60 + second) * 1000) + millisecond
        return Date(timeIntervalSince1970: Double(milliseconds) / 1000)
    }

    /// The days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
    /// `days_from_civil`, `civilDate`'s inverse).
    private static func daysSinceEpoch(year: Int64, month: Int64, day: Int64) -> Int64 {
        let marchYear = month <= 2 ? year - 1 : year
        let era = marchYear.floorDivided(by: 400)
        let yearOfEra = marchYear - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
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
