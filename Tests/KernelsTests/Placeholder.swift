import Testing

@Test func kernelsTestsBuilds() {}
