//! Tower middleware around the routes: request ids, inbound auth, overload protection and
//! HTTP metrics.

mod auth;
mod http_metrics;
mod marked;
mod overload;
mod request_id;

pub use auth::{ApiKeys, Caller, RequireApiKeyLayer};
pub use http_metrics::{HttpMetricsLayer, TagRouteLayer};
pub use overload::InFlightLimit;
pub use request_id::{RequestId, SetRequestIdLayer, REQUEST_ID_HEADER};
