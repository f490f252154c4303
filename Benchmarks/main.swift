let which = CommandLine.arguments.dropFirst().first ?? "all"
if which == "store" || which == "all" {
    try runStoreBenchmark()
}
