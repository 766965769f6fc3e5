fn main() -> std::process::ExitCode {
    common::cli::main::<latest_ami::Args>()
}
