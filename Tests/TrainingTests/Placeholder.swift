import Testing

@Test func trainingTestsBuild() {}
