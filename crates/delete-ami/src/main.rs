fn main() -> std::process::ExitCode {
    common::cli::main::<delete_ami::Args>()
}
