import Testing

@Test func storeTestsBuilds() {}
