import Testing

@Test func continualTestsBuild() {}
