//! The OpenAPI 3 description of every route, generated from the handlers and types. The
//! committed `openapi.json` is checked against it by a test.

use utoipa::{
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    Modify, OpenApi,
};

use crate::{
    delivery::{AttemptRecord, Leg},
    domain::{Priority, PromptId, SimulatePromptBody},
    error::ErrorBody,
    routes::{health, ledger, prompts, simulate},
    store::{CorrelationState, DeliveryStatus, PromptRecord},
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "cxone-assist",
        description = "Delivers Agent Assist prompts to agents during live NICE CXone interactions.",
    ),
    paths(
        simulate::simulate_prompt,
        prompts::get_prompt,
        prompts::retract_prompt,
        ledger::list_prompts,
        ledger::export_prompts,
        ledger::record_feedback,
        ledger::stats,
        health::healthz,
        health::readyz,
        metrics_doc,
        openapi_doc,
    ),
    components(schemas(
        SimulatePromptBody, simulate::SimulatePromptResponse, ErrorBody, PromptRecord,
        AttemptRecord, Leg, Priority, PromptId, DeliveryStatus, CorrelationState,
        health::Liveness, health::Readiness, ledger::FeedbackBody, ledger::FeedbackResponse,
        ledger::StatsResponse, ledger::PromptList,
    )),
    modifiers(&BearerKeys),
    tags(
        (name = "prompts", description = "Deliver prompts and read their records"),
        (name = "ledger", description = "Feedback, statistics, listing and export"),
        (name = "operations", description = "Probes, metrics and this document"),
    ),
)]
pub struct ApiDoc;

/// The document as served and committed: pretty JSON with a trailing newline.
pub fn document() -> String {
    let mut json = ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|_| "{}".to_owned());
    json.push('\n');
    json
}

struct BearerKeys;

impl Modify for BearerKeys {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "Required when the service is configured with INBOUND_API_KEYS",
                    ))
                    .build(),
            ),
        );
    }
}

/// Prometheus metrics in the OpenMetrics text format (path configurable).
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "OpenMetrics text",
        content_type = "application/openmetrics-text", body = String)))]
#[allow(dead_code)]
fn metrics_doc() {}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses(
        (status = 200, description = "The OpenAPI document", body = Object),
        (status = 401, description = "Missing or wrong API key", body = ErrorBody),
    ),
    security((), ("api_key" = [])))]
#[allow(dead_code)]
fn openapi_doc() {}
