public import Foundation
import Yams

/// The PromQL of deploy/monitoring: the dashboard's queries and the alert rules' expressions,
/// and the metric names each one reads.
public enum Monitoring {
    public static let directory = packageRoot.appending(path: "deploy/monitoring")

    /// Every query of the dashboard's panels, by panel title.
    public static func dashboardQueries() throws -> [(panel: String, expression: String)] {
        let dashboard = try JSONSerialization.jsonObject(with: Data(contentsOf: directory.appending(path: "dashboard.json"))) as? [String: Any]
        let panels = dashboard?["panels"] as? [[String: Any]] ?? []
        return panels.flatMap { panel in
            (panel["targets"] as? [[String: Any]] ?? []).compactMap { target in
                (target["expr"] as? String).map { (panel["title"] as? String ?? "?", $0) }
            }
        }
    }

    /// The rules of alerts.yml, as parsed.
    public static func rules() throws -> [[String: Any]] {
        let file = try Yams.load(yaml: String(contentsOf: directory.appending(path: "alerts.yml"), encoding: .utf8)) as? [String: Any]
        let groups = file?["groups"] as? [[String: Any]] ?? []
        return groups.flatMap { $0["rules"] as? [[String: Any]] ?? [] }
    }

    /// The metrics an expression reads: what is left once strings, label matchers, ranges,
    /// grouping clauses, functions, keywords and numbers are taken out.
    public static func metricNames(in expression: String) -> Set<String> {
        var text = expression
        for pattern in [#""(?:[^"\\]|\\.)*""#, #"\{[^}]*\}"#, #"\[[^\]]*\]"#, #"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)"#] {
            text = text.replacingOccurrences(of: pattern, with: " ", options: .regularExpression)
        }
        let keywords: Set<String> = ["and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left", "group_right", "inf", "nan"]
        let identifier = try! NSRegularExpression(pattern: #"(?<![\w.])([a-zA-Z_:][a-zA-Z0-9_:]*+)(?!\s*\()"#)
        let range = NSRange(text.startIndex..., in: text)
        return Set(identifier.matches(in: text, range: range).compactMap { match in
            Range(match.range(at: 1), in: text).map { String(text[$0]) }
        }.filter { !keywords.contains($0.lowercased()) })
    }
}
