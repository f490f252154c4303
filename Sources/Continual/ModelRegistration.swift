import CLIP
import Foundation
import Store

extension ModelRecord {
    /// The record that binds a store to the checkpoint in `directory`: its weights' SHA-256, its
    /// configuration file and widths. The checkpoint is loaded once, strictly, so that a
    /// missing, unexpected or wrongly shaped tensor is refused before any store is touched.
    public static func describing(checkpoint directory: URL, name: String? = nil) throws -> ModelRecord {
        let files = try CLIPCheckpointFiles(directory: directory)
        _ = try CLIPCheckpoint(directory: directory)
        return ModelRecord(
            name: name ?? directory.lastPathComponent, directory: directory.path, weightsFile: files.weights.lastPathComponent,
            weightsSha256: try sha256(ofFile: files.weights),
            configJson: try String(contentsOf: files.configurationFile, encoding: .utf8),
            tokenEmbeddingWidth: files.configuration.text.hiddenSize, featureWidth: files.configuration.projectionDim)
    }
}
