mod allocator;

fn main() -> std::process::ExitCode {
    allocator::register();
    credo::cli::run()
}
