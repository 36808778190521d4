//! Buffered datasets' buffers on SQS (production): one queue per dataset,
//! `{prefix}-buf-{dataset uuid's hex}`, created on first use. A message is
//! one writer's rows as JSON (at most 192 KiB; SQS takes 256). A writer
//! waits while its dataset's queue holds `max_depth` messages or more
//! (backpressure, never a dropped row); a message the sink received and did
//! not acknowledge comes back after the visibility timeout.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;
use aws_sdk_sqs::Client;
use trace_protocol::buffered::{Buffer, BufferDelivery, BufferedRows};
use trace_protocol::queue::{BoxFuture, QueueError};

/// Messages a dataset's queue holds before writers wait.
pub const DEFAULT_MAX_DEPTH: usize = 10_000;
/// How often a waiting writer looks at the queue's depth again.
pub const DEPTH_POLL: Duration = Duration::from_millis(200);

pub struct SqsBuffer {
    client: Client,
    prefix: String,
    visibility: Duration,
    max_depth: usize,
    urls: Mutex<HashMap<String, String>>,
}

fn failed<E: std::error::Error + Send + Sync + 'static>(op: &'static str) -> impl FnOnce(E) -> QueueError {
    move |e| QueueError { op, source: Box::new(e) }
}

impl SqsBuffer {
    /// Queues named `{prefix}-buf-…`; `prefix` at most 40 characters (SQS
    /// names are at most 80).
    pub fn new(client: Client, prefix: &str, visibility: Duration, max_depth: usize) -> Self {
        let prefix: String = prefix.chars().take(40).collect();
        Self { client, prefix, visibility, max_depth: max_depth.max(1), urls: Mutex::new(HashMap::new()) }
    }

    /// The queue name of `dataset`'s buffer.
    pub fn queue_name(&self, dataset: &str) -> String {
        format!("{}-buf-{}", self.prefix, dataset.chars().filter(char::is_ascii_hexdigit).collect::<String>())
    }

    async fn url(&self, dataset: &str) -> Result<String, QueueError> {
        if let Some(url) = self.urls.lock().expect("buffer lock poisoned").get(dataset) {
            return Ok(url.clone());
        }
        let name = self.queue_name(dataset);
        // CreateQueue returns the existing queue's URL when the attributes match (none are set).
        let out = self.client.create_queue().queue_name(&name).send().await.map_err(failed("CreateQueue"))?;
        let url = out.queue_url.ok_or_else(|| QueueError { op: "CreateQueue", source: "SQS returned no queue URL".into() })?;
        self.urls.lock().expect("buffer lock poisoned").insert(dataset.to_owned(), url.clone());
        Ok(url)
    }

    /// Messages in `url`'s queue: waiting and received-not-acknowledged.
    async fn depth(&self, url: &str) -> Result<(usize, usize), QueueError> {
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .map_err(failed("GetQueueAttributes"))?;
        let attrs = out.attributes.unwrap_or_default();
        let get = |k: &QueueAttributeName| attrs.get(k).and_then(|v| v.parse::<usize>().ok()).unwrap_or(0);
        Ok((get(&QueueAttributeName::ApproximateNumberOfMessages), get(&QueueAttributeName::ApproximateNumberOfMessagesNotVisible)))
    }
}

impl Buffer for SqsBuffer {
    fn push(&self, rows: BufferedRows) -> BoxFuture<'_, Result<(), QueueError>> {
        Box::pin(async move {
            let url = self.url(&rows.dataset_uuid).await?;
            while self.depth(&url).await?.0 >= self.max_depth {
                tokio::time::sleep(DEPTH_POLL).await;
            }
            let body = serde_json::to_string(&rows).map_err(failed("encoding buffered rows"))?;
            self.client.send_message().queue_url(&url).message_body(body).send().await.map_err(failed("SendMessage"))?;
            Ok(())
        })
    }

    fn receive<'a>(&'a self, dataset_uuid: &'a str, max: usize, wait_ms: u64) -> BoxFuture<'a, Result<Vec<BufferDelivery>, QueueError>> {
        Box::pin(async move {
            let url = self.url(dataset_uuid).await?;
            let out = self
                .client
                .receive_message()
                .queue_url(&url)
                .max_number_of_messages(max.clamp(1, 10) as i32)
                .visibility_timeout(self.visibility.as_secs().clamp(1, 43_200) as i32)
                .wait_time_seconds(wait_ms.div_ceil(1000).min(20) as i32)
                .send()
                .await
                .map_err(failed("ReceiveMessage"))?;
            let mut got = Vec::new();
            for m in out.messages.unwrap_or_default() {
                let parsed = m.body.as_deref().map(serde_json::from_str::<BufferedRows>);
                match (parsed, m.receipt_handle) {
                    (Some(Ok(rows)), Some(receipt)) if rows.dataset_uuid == dataset_uuid => got.push(BufferDelivery { rows, receipt: Some(receipt) }),
                    (_, receipt) => {
                        // It can never commit: drop it, loudly, rather than loop on it.
                        tracing::error!(dataset = dataset_uuid, message = ?m.message_id, "dropping a buffer message that is not rows of this dataset");
                        if let Some(receipt) = receipt {
                            self.client.delete_message().queue_url(&url).receipt_handle(receipt).send().await.map_err(failed("DeleteMessage"))?;
                        }
                    }
                }
            }
            Ok(got)
        })
    }

    fn ack<'a>(&'a self, dataset_uuid: &'a str, delivery: &'a BufferDelivery) -> BoxFuture<'a, Result<(), QueueError>> {
        Box::pin(async move {
            let Some(receipt) = &delivery.receipt else { return Ok(()) };
            let url = self.url(dataset_uuid).await?;
            self.client.delete_message().queue_url(&url).receipt_handle(receipt).send().await.map_err(failed("DeleteMessage"))?;
            Ok(())
        })
    }

    fn pending(&self) -> BoxFuture<'_, Result<usize, QueueError>> {
        Box::pin(async move {
            let urls: Vec<String> = self.urls.lock().expect("buffer lock poisoned").values().cloned().collect();
            let mut n = 0;
            for url in urls {
                let (waiting, in_flight) = self.depth(&url).await?;
                n += waiting + in_flight;
            }
            Ok(n)
        })
    }
}
