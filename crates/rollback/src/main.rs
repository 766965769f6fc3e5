fn main() -> std::process::ExitCode {
    common::cli::main::<rollback::Args>()
}
