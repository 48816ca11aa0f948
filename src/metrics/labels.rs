//! The label sets of the metrics, each from a bounded set of values.

use std::sync::Arc;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub route: RouteLabel,
    pub method: &'static str,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: RouteLabel,
}

/// A route template (`/prompts/{prompt_id}`, or `unmatched`) as a label value: made once
/// per route and shared, so labelling an answer copies no text.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
pub struct RouteLabel(pub Arc<str>);

impl EncodeLabelValue for RouteLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        std::fmt::Write::write_str(encoder, &self.0)
    }
}

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum DeliveryOutcome {
    Delivered,
    Fallback,
    Failed,
    Ineligible,
    RateLimited,
}

impl DeliveryOutcome {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            DeliveryOutcome::Delivered => "delivered",
            DeliveryOutcome::Fallback => "fallback",
            DeliveryOutcome::Failed => "failed",
            DeliveryOutcome::Ineligible => "ineligible",
            DeliveryOutcome::RateLimited => "rate_limited",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AttemptLabels {
    pub leg: &'static str,
    pub outcome: &'static str,
}

#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub enum Endpoint {
    Token,
    Prompts,
    Transcripts,
}

impl Endpoint {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Endpoint::Token => "token",
            Endpoint::Prompts => "prompts",
            Endpoint::Transcripts => "transcripts",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UpstreamLabels {
    pub endpoint: &'static str,
    /// `2xx`, `3xx`, `4xx`, `5xx`, or `error` when no answer arrived.
    pub class: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointLabels {
    pub endpoint: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CorrelationLabels {
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LostLabels {
    /// `pending_limit`: too many records already awaited their commit past their answers;
    /// `shutdown`: the ledger could not take them within the drain timeout.
    pub reason: &'static str,
}
