/// Where samples come from and which ones a metric is computed on (a stage file's `split` column).
public enum Split: String, Codable, Sendable, CaseIterable {
    case train, val, test
}

/// Evaluation label space: `task` uses each stage's own classes (the paper's protocol),
/// `class` all classes seen up to the snapshot's stage.
public enum Protocol: String, Codable, Sendable, CaseIterable {
    case task, `class`
}
