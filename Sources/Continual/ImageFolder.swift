import CLIP
import Formats
import Foundation

/// torchvision's ImageFolder layout as a split: `DIR/train/<class>/<image>`, `DIR/test/<class>/...`
/// and optionally `DIR/val/<class>/...`; or one tree `DIR/<class>/<image>` cut into train and test
/// rows per class (a fraction, drawn with a seed). Classes are the folder names sorted (as
/// ImageFolder sorts them), in NFC; labels are their positions. Images are the files ending in
/// .jpg, .jpeg or .png (any case); hidden files are left out and other files counted.
public struct ImageFolder: Sendable {
    public var split: DasslSplit
    /// Files that are not images lamm-store reads, left out.
    public var ignoredFiles: Int
    /// `split` (train, val, test folders) or `tree` (one folder per class).
    public var layout: String

    static let imageExtensions: Set<String> = ["jpg", "jpeg", "png"]

    /// Reads `root`. A tree needs `testFraction` (the share of each class's images that become
    /// test rows, at least one when a class has two or more); a split layout must not get one.
    public init(root: URL, testFraction: Double? = nil, seed: UInt64 = 1) throws {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        guard fm.fileExists(atPath: root.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ImageFolderError.notAFolder(path: root.path)
        }
        var ignored = 0
        /// The class folders of `folder` (sorted) and their image files (sorted), paths relative to root.
        func classes(in folder: String) throws -> [(name: String, files: [String])] {
            let url = folder.isEmpty ? root : root.appendingPathComponent(folder)
            let names = try fm.contentsOfDirectory(atPath: url.path).filter { !$0.hasPrefix(".") }.sorted()
            return try names.compactMap { name in
                var isFolder: ObjCBool = false
                let classURL = url.appendingPathComponent(name)
                guard fm.fileExists(atPath: classURL.path, isDirectory: &isFolder), isFolder.boolValue else {
                    ignored += 1
                    return nil
                }
                let files = try fm.contentsOfDirectory(atPath: classURL.path).filter { !$0.hasPrefix(".") }.sorted()
                let images = files.filter { Self.imageExtensions.contains(($0 as NSString).pathExtension.lowercased()) }
                ignored += files.count - images.count
                let prefix = folder.isEmpty ? name : folder + "/" + name
                return (Names.normalised(name), images.map { prefix + "/" + $0 })
            }
        }
        let hasTrain = fm.fileExists(atPath: root.appendingPathComponent("train").path)
        var perSplit: [String: [(name: String, files: [String])]] = [:]
        if hasTrain {
            guard testFraction == nil else { throw ImageFolderError.fractionWithSplitLayout(path: root.path) }
            guard fm.fileExists(atPath: root.appendingPathComponent("test").path) else { throw ImageFolderError.noTestFolder(path: root.path) }
            for name in ["train", "val", "test"] where fm.fileExists(atPath: root.appendingPathComponent(name).path) {
                perSplit[name] = try classes(in: name)
            }
            layout = "split"
        } else {
            guard let testFraction else { throw ImageFolderError.treeNeedsFraction(path: root.path) }
            guard testFraction > 0, testFraction < 1 else { throw ImageFolderError.badFraction(fraction: testFraction) }
            var random = SplitMix64(seed: seed)
            var train: [(String, [String])] = [], test: [(String, [String])] = []
            for (name, files) in try classes(in: "") {
                var shuffled = files
                shuffled.shuffle(using: &random)
                let count = files.count < 2 ? 0 : max(1, Int((Double(files.count) * testFraction).rounded()))
                test.append((name, Array(shuffled.prefix(count)).sorted()))
                train.append((name, Array(shuffled.dropFirst(count)).sorted()))
            }
            perSplit = ["train": train, "test": test]
            layout = "tree"
        }
        let names = Set(perSplit.values.flatMap { $0.map(\.name) }).sorted()
        guard !names.isEmpty else { throw ImageFolderError.noClasses(path: root.path) }
        let label = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, $0) })
        var items: [String: [DasslSplit.Item]] = [:]
        for (split, classes) in perSplit {
            items[split] = classes.flatMap { name, files in files.map { DasslSplit.Item(path: $0, label: label[name]!, className: name) } }
        }
        guard items.values.contains(where: { !$0.isEmpty }) else { throw ImageFolderError.noImages(path: root.path) }
        split = DasslSplit(items: items, classNames: Dictionary(uniqueKeysWithValues: names.enumerated().map { ($0, $1) }))
        ignoredFiles = ignored
    }
}

public enum ImageFolderError: Error, Equatable, LocalizedError, CustomStringConvertible {
    case notAFolder(path: String)
    case noTestFolder(path: String)
    case treeNeedsFraction(path: String)
    case fractionWithSplitLayout(path: String)
    case badFraction(fraction: Double)
    case noClasses(path: String)
    case noImages(path: String)

    public var description: String {
        switch self {
        case let .notAFolder(path):
            return "\(path) is not a folder. Give the root of an ImageFolder tree (DIR/train/<class>/..., DIR/test/<class>/...)."
        case let .noTestFolder(path):
            return "\(path) has train/ but no test/ folder. Add DIR/test/<class>/..., or give one tree DIR/<class>/... with --test-fraction."
        case let .treeNeedsFraction(path):
            return "\(path) has no train/ folder, so it is read as one tree DIR/<class>/...; give --test-fraction F (e.g. 0.2) and --seed S to cut each class into train and test images."
        case let .fractionWithSplitLayout(path):
            return "\(path) has its own train/ and test/ folders; --test-fraction applies only to one tree DIR/<class>/.... Leave it out."
        case let .badFraction(fraction):
            return "--test-fraction \(fraction): give a fraction between 0 and 1 (e.g. 0.2)."
        case let .noClasses(path):
            return "\(path) holds no class folders. An ImageFolder tree has one folder per class (DIR/train/<class>/image.jpg)."
        case let .noImages(path):
            return "\(path): the class folders hold no .jpg, .jpeg or .png files."
        }
    }

    public var errorDescription: String? { description }
}
