import Testing

@Test func cLIPTestsBuilds() {}
