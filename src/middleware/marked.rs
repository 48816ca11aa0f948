//! A response future that adds one thing to the inner service's response once it is ready,
//! for the layers that only mark responses: no boxed future, no second state machine each.

use std::{
    future::Future,
    pin::Pin,
    task::{ready, Context, Poll},
};

use axum::http::Response;
use pin_project_lite::pin_project;

/// What a layer adds to a response.
pub trait Mark {
    fn mark<B>(self, response: &mut Response<B>);
}

/// Nothing to add is a mark too.
impl<M: Mark> Mark for Option<M> {
    fn mark<B>(self, response: &mut Response<B>) {
        if let Some(mark) = self {
            mark.mark(response);
        }
    }
}

pin_project! {
    /// The inner response, with `mark` added to it.
    pub struct Marked<F, M> {
        #[pin]
        inner: F,
        mark: Option<M>,
    }
}

impl<F, M> Marked<F, M> {
    pub fn new(inner: F, mark: M) -> Self {
        Self {
            inner,
            mark: Some(mark),
        }
    }
}

impl<F, M, B, E> Future for Marked<F, M>
where
    F: Future<Output = Result<Response<B>, E>>,
    M: Mark,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = ready!(this.inner.poll(cx))?;
        if let Some(mark) = this.mark.take() {
            mark.mark(&mut response);
        }
        Poll::Ready(Ok(response))
    }
}
