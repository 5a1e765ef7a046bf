//! oai-lb: a smart load balancer for Azure OpenAI, as APIM policy and as a local proxy.
//!
//! See ARCHITECTURE.md for the map. The binary is `src/main.rs`; everything else is here so
//! integration tests and benchmarks can drive the same code.

pub mod arm;
pub mod azure;
pub mod cli;
pub mod config;
pub mod credential;
pub mod dns;
pub mod lb;
pub mod log_writer;
pub mod names;
pub mod policy;
pub mod probe;
pub mod proxy;
pub mod sim;
pub mod telemetry;
