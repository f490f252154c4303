import Testing

@Test func evaluationTestsBuild() {}
