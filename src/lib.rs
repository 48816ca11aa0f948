//! cxone-assist: delivers Agent Assist prompts to agents during live NICE CXone interactions.

pub mod circuit_breaker;
pub mod cli;
pub mod clock;
pub mod config;
pub mod cooldown;
pub mod correlation;
pub mod delivery;
pub mod domain;
pub mod eligibility;
pub mod error;
pub mod extract;
pub mod fake_tenant;
pub mod keywords;
pub mod metrics;
pub mod middleware;
pub mod openapi;
pub mod rate_limit;
pub mod refusals;
pub mod retention;
pub mod retry;
pub mod routes;
pub mod server;
pub mod service;
pub mod shutdown;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod tenant;

pub use startup::Application;
