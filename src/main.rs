//! The `stockcast` command: parses arguments, calls the library, prints, and exits
//! 0 (ok), 1 (failure) or 2 (bad usage or bad input).

mod cli;

fn main() {
    std::process::exit(cli::main());
}
