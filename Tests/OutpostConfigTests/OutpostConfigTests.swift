import OutpostConfig
import XCTest

/// A small typed configuration, read the way the experiment configurations are.
struct Training: Equatable {
    var learningRate: Double, epochs: Int, optimizer: String, nesterov: Bool, milestones: [Int]
    static func read(_ root: ConfigSection) throws -> Training {
        let t = try root.section("training")
        let value = Training(learningRate: try t.double("learning_rate", default: 0.01, exclusiveMinimum: 0),
                             epochs: try t.int("epochs", default: 1, range: 1...1000),
                             optimizer: try t.choice("optimizer", among: ["sgd", "adam"], default: "sgd"),
                             nesterov: try t.bool("nesterov", default: false),
                             milestones: try t.intList("milestones", default: []))
        try t.finish()
        try root.finish()
        return value
    }
}

final class ConfigTests: XCTestCase {
    func parse(_ yaml: String, overrides: [String] = []) throws -> [ConfigGrid.Point<Training>] {
        try ConfigGrid.expand(ConfigValue.parse(yaml: yaml).applying(overrides: overrides), parse: Training.read)
    }

    func error(_ yaml: String, overrides: [String] = []) -> String {
        do { _ = try parse(yaml, overrides: overrides); return "no error" } catch { return "\(error)" }
    }

    func testDefaultsAndValues() throws {
        XCTAssertEqual(try parse("").first?.configuration, Training(learningRate: 0.01, epochs: 1, optimizer: "sgd", nesterov: false, milestones: []))
        let t = try parse("training:\n  learning_rate: 0.1\n  epochs: 5\n  nesterov: yes\n  milestones: [10, 20]").first?.configuration
        XCTAssertEqual(t, Training(learningRate: 0.1, epochs: 5, optimizer: "sgd", nesterov: true, milestones: [10, 20]))
    }

    func testUnknownKeyGetsPathAndSuggestion() {
        let e = error("training:\n  learning_rat: 0.1")
        XCTAssert(e.contains("training.learning_rat") && e.contains("did you mean 'learning_rate'"), e)
        let top = error("trainng:\n  epochs: 2")
        XCTAssert(top.contains("trainng") && top.contains("did you mean 'training'"), top)
    }

    func testSeveralUnknownKeysAreReportedTogether() {
        let e = error("training:\n  epoch: 2\n  optimiser: sgd")
        XCTAssert(e.contains("training.epoch") && e.contains("training.optimiser") && e.contains("'optimizer'"), e)
    }

    func testWrongTypesAndRanges() {
        XCTAssert(error("training:\n  epochs: two").contains("training.epochs: expected an integer, got 'two'"))
        XCTAssert(error("training:\n  epochs: 0").contains("training.epochs: must be in [1, 1000], got 0"))
        XCTAssert(error("training:\n  learning_rate: -1").contains("training.learning_rate: must be greater than 0"))
        XCTAssert(error("training:\n  nesterov: maybe").contains("expected true or false"))
        XCTAssert(error("training: 3").contains("training: expected a section"))
        XCTAssert(error("training:\n  milestones: [1, x]").contains("training.milestones[1]: expected an integer"))
        let choice = error("training:\n  optimizer: adamw")
        XCTAssert(choice.contains("'adamw' is not one of sgd, adam") && choice.contains("did you mean 'adam'"), choice)
        XCTAssert(error("training: [1, 2").contains("not valid YAML"))
    }

    func testListsExpandIntoGrids() throws {
        let points = try parse("training:\n  learning_rate: [0.1, 0.01]\n  optimizer: [sgd, adam]\n  milestones: [5]")
        XCTAssertEqual(points.count, 4)
        XCTAssertEqual(points.map(\.configuration.learningRate), [0.1, 0.1, 0.01, 0.01])
        XCTAssertEqual(points.map(\.configuration.optimizer), ["sgd", "adam", "sgd", "adam"])
        XCTAssertEqual(points[1].label, "training.learning_rate=0.1, training.optimizer=adam")
        XCTAssert(points.allSatisfy { $0.configuration.milestones == [5] }, "list-valued keys are data, not axes")
        // Each grid point is validated on its own.
        XCTAssert(error("training:\n  epochs: [2, 0]").contains("training.epochs: must be in [1, 1000], got 0"))
    }

    func testOverrides() throws {
        let t = try parse("training:\n  epochs: 3", overrides: ["training.learning_rate=0.5", "training.epochs=7"])
        XCTAssertEqual(t.first?.configuration.learningRate, 0.5)
        XCTAssertEqual(t.first?.configuration.epochs, 7)
        XCTAssertEqual(try parse("", overrides: ["training.epochs=[1,2,3]"]).count, 3)
        XCTAssert(error("", overrides: ["training.epochs"]).contains("not of the form key.path=value"))
        XCTAssert(error("", overrides: ["training.epochz=2"]).contains("did you mean 'epochs'"))
    }

    func testDuplicateKeysAreRejected() {
        XCTAssert(error("training:\n  epochs: 1\n  epochs: 2").contains("appears twice") || error("training:\n  epochs: 1\n  epochs: 2").contains("YAML"))
    }

    func testYAMLRoundTrip() throws {
        let doc = try ConfigValue.parse(yaml: "a:\n  b: 1\n  c: [x, y]\nd: \"hello world\"")
        XCTAssertEqual(try ConfigValue.parse(yaml: doc.yaml()), doc)
    }
}
