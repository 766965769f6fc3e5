fn main() -> std::process::ExitCode {
    common::cli::main::<verify_ami::Args>()
}
