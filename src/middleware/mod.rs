//! Tower middleware around the routes: request ids, inbound auth, overload protection and
//! HTTP metrics.

mod auth;
mod http_metrics;
mod overload;
mod request_id;

pub use auth::{require_api_key, ApiKeys, Caller};
pub use http_metrics::{tag_route, HttpMetricsLayer};
pub use overload::{limit_in_flight, InFlightLimit};
pub use request_id::{RequestId, SetRequestIdLayer, REQUEST_ID_HEADER};
