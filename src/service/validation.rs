//! A `/simulate-prompt` body into a request the tenant API can carry, or the 400 that says why.

use super::PromptService;
use crate::{
    domain::{PromptRequest, SimulatePromptBody},
    error::ApiError,
    store::RefusalKind,
};

impl PromptService {
    /// Validates `body`, then asks the tenant adapter whether it can carry the request (the
    /// `cxone` dialect takes only numeric ids, for one). A refusal is counted and changes
    /// nothing else: no rate-limit token, no record.
    pub fn validate(&self, body: SimulatePromptBody) -> Result<PromptRequest, ApiError> {
        let checked = body.validate(self.limits).and_then(|request| {
            match self.deliverer.tenant.check_request(&request) {
                Ok(()) => Ok(request),
                Err(unsendable) => Err(ApiError::InvalidField {
                    field: unsendable.field.into(),
                    message: unsendable.message,
                }),
            }
        });
        if checked.is_err() {
            self.count_refusal(RefusalKind::Invalid);
        }
        checked
    }
}
