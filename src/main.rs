//! `oai-lb`: parse the command line, run the command, map the outcome to an exit code.
//! Nothing else lives here; see `cli::run` for the commands.

use std::process::ExitCode;

// The proxy allocates small buffers per request on every worker thread; mimalloc's
// thread-local free lists measurably beat the system allocator there (see the benchmark).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = match oai_lb::cli::parse() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    match oai_lb::cli::run(cli) {
        Ok(code) => code,
        // `oai-lb … | head`: the reader has what it wanted.
        Err(err) if err.is_broken_pipe() => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {}", err.line());
            err.exit_code()
        }
    }
}
