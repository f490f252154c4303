/// What `lamm-store --version` prints; the one place the version is written.
public let lammStoreVersion = "0.1.0"
