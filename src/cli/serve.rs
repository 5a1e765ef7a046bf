//! `oai-lb serve`: the embedded local balancer.

use std::process::ExitCode;

use super::{Error, GlobalArgs, Printer};

#[derive(Debug, clap::Args)]
pub struct Args {}

pub fn run(_global: &GlobalArgs, _args: Args, _printer: &Printer) -> Result<ExitCode, Error> {
    Err(Error::failure("serve is being written"))
}
