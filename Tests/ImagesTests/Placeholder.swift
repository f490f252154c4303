import Testing

@Test func imagesTestsBuild() {}
