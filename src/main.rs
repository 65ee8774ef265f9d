fn main() -> std::process::ExitCode {
    mentiond::cli::main()
}
