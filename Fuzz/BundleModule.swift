import Foundation

// SwiftPM generates `Bundle.module` for a target with resources; the fuzz build compiles the
// tokenizer's sources without SwiftPM, and its targets never ask for the default vocabulary.
extension Bundle {
    static let module = Bundle.main
}
