//! The `stockcast` command: parses arguments, calls the library, prints, and exits
//! 0 (ok), 1 (failure) or 2 (bad usage or bad input).

mod cli;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(cli::main());
}
