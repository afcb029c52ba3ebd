/// Grid expansion: every list written where one value is expected is an axis, and the
/// configuration expands into the cartesian product of all axes (in file order, the last
/// axis varying fastest).
public enum ConfigGrid {
    final class Recorder {
        var axes: [(path: String, values: [ConfigValue])] = []
        func axis(path: String, values: [ConfigValue]) {
            if !axes.contains(where: { $0.path == path }) { axes.append((path, values)) }
        }
    }

    /// One point of the grid: the value chosen for each axis and the parsed configuration.
    public struct Point<T> {
        public let assignment: [(path: String, value: String)]
        public let configuration: T

        /// `lr=0.1, defense.name=gc`, or `default` for a configuration without axes.
        public var label: String {
            assignment.isEmpty ? "default" : assignment.map { "\($0.path)=\($0.value)" }.joined(separator: ", ")
        }
    }

    /// Parses `document` once per grid point with `parse`, which reads a root section and
    /// must call `finish()` on every section it reads.
    public static func expand<T>(_ document: ConfigValue, maximumPoints: Int = 10_000,
                                 parse: (ConfigSection) throws -> T) throws -> [Point<T>] {
        let recorder = Recorder()
        _ = try parse(ConfigSection(path: "", value: document, grid: recorder))
        let axes = recorder.axes
        let total = axes.reduce(1) { $0 * $1.values.count }
        guard total <= maximumPoints else {
            throw ConfigError(path: "", message: "the grid has \(total) points, more than the limit of \(maximumPoints)")
        }
        if axes.isEmpty { return [Point(assignment: [], configuration: try parse(ConfigSection(document)))] }
        var points: [Point<T>] = []
        for index in 0..<total {
            var rem = index
            var chosen: [(path: String, value: ConfigValue)] = []
            for axis in axes.reversed() {
                chosen.insert((axis.path, axis.values[rem % axis.values.count]), at: 0)
                rem /= axis.values.count
            }
            var doc = document
            for c in chosen { doc = try doc.setting(c.path.split(separator: ".").map(String.init), to: c.value) }
            let config = try parse(ConfigSection(doc))
            points.append(Point(assignment: chosen.map { ($0.path, $0.value.description) }, configuration: config))
        }
        return points
    }
}
