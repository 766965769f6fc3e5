fn main() -> std::process::ExitCode {
    common::cli::main::<prune_amis::Args>()
}
