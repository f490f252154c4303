import Testing

@Test func demoTestsBuild() {}
