fn main() -> std::process::ExitCode {
    dwlink::cli::main()
}
