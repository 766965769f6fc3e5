fn main() -> std::process::ExitCode {
    common::cli::main::<bump_launch_template::Args>()
}
