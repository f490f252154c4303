import Testing
@testable import lamm_store

@Test func rootCommandParses() throws {
    _ = try LAMMStoreCommand.parseAsRoot([])
}
