mod bad_input;
mod correlation;
mod delivery;
mod eligibility;
mod helpers;
mod process;
mod rate_limit;
mod token;
