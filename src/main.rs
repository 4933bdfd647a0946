// Parsing, rule evaluation and result building allocate many small values;
// mimalloc handles that far better than the system allocator (measured:
// see ARCHITECTURE.md, "Performance").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    credo::cli::run()
}
