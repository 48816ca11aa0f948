//! Export lines: records as JSON lines or CSV rows, streamed from the ledger.

use std::sync::Arc;

use futures::{stream::BoxStream, StreamExt};
use time::OffsetDateTime;
use tokio::sync::mpsc;

use crate::store::{PromptRecord, PromptStore, StoreError};

const CSV_HEADER: &str = "promptId,primaryPromptId,interactionId,agentId,priority,sentiment,\
status,failure,fallback,attempt,attempts,receivedAt,completedAt,correlation,transcriptId,\
correlatedAt,contentHash,requestId,content\n";

/// The export as a stream of text chunks. A task owns the store's stream (which borrows the
/// store) and hands lines over a small channel: memory stays flat, and the task ends as soon
/// as the client goes away.
///
/// A store error mid-export is the stream's last item. The 200 status has gone out by then,
/// so the body is aborted instead of ended: the client sees a broken transfer (no final
/// chunk), never a complete-looking file that is missing records.
pub fn lines(
    store: Arc<dyn PromptStore>,
    from: Option<OffsetDateTime>,
    to: Option<OffsetDateTime>,
    csv: bool,
) -> BoxStream<'static, Result<String, StoreError>> {
    let (tx, rx) = mpsc::channel::<Result<String, StoreError>>(64);
    tokio::spawn(async move {
        if csv && tx.send(Ok(CSV_HEADER.to_owned())).await.is_err() {
            return;
        }
        let mut records = store.export(from, to);
        while let Some(record) = records.next().await {
            let line = match record {
                Ok(record) if csv => Ok(csv_row(&record)),
                Ok(record) => Ok(json_line(&record)),
                Err(error) => {
                    tracing::error!(%error, "export failed; aborting the response body");
                    Err(error)
                }
            };
            let failed = line.is_err();
            if tx.send(line).await.is_err() || failed {
                return;
            }
        }
    });
    futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|line| (line, rx))
    })
    .boxed()
}

fn json_line(record: &PromptRecord) -> String {
    let mut line = serde_json::to_string(record).unwrap_or_default();
    line.push('\n');
    line
}

fn csv_row(r: &PromptRecord) -> String {
    let time = |t: &OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    };
    let fields = [
        r.prompt_id.to_string(),
        r.primary_prompt_id.to_string(),
        r.interaction_id.clone(),
        r.agent_id.clone(),
        r.priority.as_str().to_owned(),
        r.sentiment.to_string(),
        serde_json::to_value(r.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default(),
        r.failure.unwrap_or_default().to_owned(),
        r.fallback.to_string(),
        r.attempt.map(|a| a.to_string()).unwrap_or_default(),
        r.attempts.len().to_string(),
        time(&r.received_at),
        time(&r.completed_at),
        r.correlation.as_str().to_owned(),
        r.transcript_id.clone().unwrap_or_default(),
        r.correlated_at.as_ref().map(time).unwrap_or_default(),
        r.content_hash.clone(),
        r.request_id.clone().unwrap_or_default(),
        r.content.clone().unwrap_or_default(),
    ];
    let mut row = fields
        .iter()
        .map(|f| csv_field(f))
        .collect::<Vec<_>>()
        .join(",");
    row.push('\n');
    row
}

/// RFC 4180: quote a field holding a comma, quote or line break; double inner quotes.
fn csv_field(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_only_when_needed() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
    }
}
