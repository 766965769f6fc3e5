fn main() -> std::process::ExitCode {
    common::cli::main::<instance_refresh::Args>()
}
