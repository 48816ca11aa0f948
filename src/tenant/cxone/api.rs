//! The tenant's API host and the requests made to it.

use axum::http::{header, Method};
use tokio::time::Instant;

use super::{
    payload::{AgentMessages, CustomEventData},
    CxoneTenant,
};
use crate::{
    config::CxoneDelivery,
    metrics::Endpoint,
    tenant::{
        discovery,
        upstream::{authorized, remaining, send_timed},
        OutboundPrompt, Token, TransportError, UpstreamResponse,
    },
};

impl CxoneTenant {
    /// `{api}/inContactAPI/services/{version}/{segments...}`.
    pub(super) async fn api_url(
        &self,
        token: &Token,
        deadline: Instant,
        segments: &[&str],
    ) -> Result<url::Url, &'static str> {
        let mut url = self.api_host(token, deadline).await?;
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty()
                .extend(["inContactAPI", "services", &self.settings.api_version])
                .extend(segments);
        }
        Ok(url)
    }

    async fn api_host(&self, token: &Token, deadline: Instant) -> Result<url::Url, &'static str> {
        if let Some(url) = &self.settings.api_url {
            return Ok(url.clone());
        }
        if let Some(url) = self.api_host.get() {
            return Ok(url);
        }
        let Ok(_turn) = tokio::time::timeout_at(deadline, self.discovering.lock()).await else {
            return Err("no time left to discover the API host");
        };
        if let Some(url) = self.api_host.get() {
            return Ok(url);
        }
        let tenant_id = token
            .claim("tenantId")
            .and_then(|claim| claim.as_str().map(str::to_owned))
            .ok_or("the access token carries no tenantId")?;
        let url = discovery::api_endpoint(
            &self.http,
            &self.settings.issuer,
            &tenant_id,
            remaining(deadline),
        )
        .await
        .map_err(|error| error.0)?;
        tracing::info!(api = %url, "discovered the tenant's API host");
        self.api_host.set(url.clone());
        Ok(url)
    }

    /// Sends one request, recording its status class and latency; a host that cannot be
    /// reached is looked up again next time.
    pub(super) async fn send(
        &self,
        endpoint: Endpoint,
        request: Result<reqwest::RequestBuilder, TransportError>,
        deadline: Instant,
    ) -> Result<UpstreamResponse, TransportError> {
        let result = send_timed(&self.http, &self.metrics, endpoint, request, deadline).await;
        if result.as_ref().err() == Some(&TransportError::Connect) {
            self.api_host.forget();
        }
        result
    }

    pub(super) fn delivery_request(
        &self,
        prompt: &OutboundPrompt,
        url: url::Url,
        token: &Token,
    ) -> Result<reqwest::RequestBuilder, TransportError> {
        let agent_id: i64 = prompt
            .agent_id
            .parse()
            .map_err(|_| TransportError::Broken)?;
        let request_id = prompt.request_id.as_deref();
        Ok(match self.settings.delivery {
            CxoneDelivery::AgentMessage => {
                let body = AgentMessages::new(prompt, agent_id, self.settings.display_ms);
                // Numbers and strings only: serialising cannot fail.
                let body = serde_json::to_vec(&body).map_err(|_| TransportError::Broken)?;
                (authorized(&self.http, Method::POST, url, token, request_id)?)
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(body)
            }
            CxoneDelivery::CustomEvent => {
                let data = CustomEventData::new(prompt).to_json();
                let query = [
                    ("eventName", self.settings.event_name.as_str()),
                    ("persistInMemory", "false"),
                    ("data", data.as_str()),
                ];
                authorized(&self.http, Method::PUT, url, token, request_id)?.query(&query)
            }
        })
    }

    pub(super) fn delivery_path<'a>(&self, agent_id: &'a str) -> Vec<&'a str> {
        match self.settings.delivery {
            CxoneDelivery::AgentMessage => vec!["agents", "messages"],
            CxoneDelivery::CustomEvent => vec!["agents", agent_id, "custom-event"],
        }
    }
}
