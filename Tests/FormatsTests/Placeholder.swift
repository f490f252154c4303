import Testing

@Test func formatsTestsBuilds() {}
