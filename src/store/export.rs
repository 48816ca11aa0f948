//! Streaming export in keyset batches.

use std::future::Future;

use futures::{
    stream::{self, BoxStream},
    StreamExt, TryStreamExt,
};

use super::{Cursor, PromptRecord, StoreError};

/// Records per round trip: big enough to amortise the query, small enough that memory stays
/// flat and no statement runs long.
pub(super) const EXPORT_BATCH: u32 = 500;

/// Streams the records `fetch` returns batch by batch, each batch continuing after the last
/// record of the previous one (`None` for the first), until a short batch.
pub(super) fn batched<'a, F, Fut>(fetch: F) -> BoxStream<'a, Result<PromptRecord, StoreError>>
where
    F: FnMut(Option<Cursor>) -> Fut + Send + 'a,
    Fut: Future<Output = Result<Vec<PromptRecord>, StoreError>> + Send + 'a,
{
    // State: the fetcher and where to continue; `None` once the last batch was read.
    stream::try_unfold((fetch, Some(None)), |(mut fetch, next)| async move {
        let Some(after) = next else {
            return Ok::<_, StoreError>(None);
        };
        let batch = fetch(after).await?;
        let next = if batch.len() < EXPORT_BATCH as usize {
            None
        } else {
            batch
                .last()
                .map(|last| Some(Cursor::new(last.received_at, last.prompt_id.as_str())))
        };
        Ok(Some((
            stream::iter(batch.into_iter().map(Ok::<_, StoreError>)),
            (fetch, next),
        )))
    })
    .try_flatten()
    .boxed()
}
