//! The SQS dispatch queue (production). Messages carry a task id and nothing
//! else (seed 004: thin messages); workers fetch the task itself. A received
//! message stays invisible for the visibility timeout and reappears unless
//! acknowledged, so a worker that dies loses nothing: the dispatcher's reaper
//! and the queue both bring the task back.

mod buffer;

pub use buffer::{SqsBuffer, DEFAULT_MAX_DEPTH, DEPTH_POLL};

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_sqs::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_sqs::Client;
use trace_protocol::queue::{BoxFuture, Delivery as QueueDelivery, QueueError, TaskQueue};
use trace_protocol::contract::TaskId;

#[derive(Debug, thiserror::Error)]
pub enum SqsError {
    #[error("SQS {op} failed")]
    Sqs {
        op: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("message {id:?} does not carry a task id: {body:?}")]
    BadMessage { id: Option<String>, body: Option<String> },
}

fn sqs<E: std::error::Error + Send + Sync + 'static>(op: &'static str) -> impl FnOnce(E) -> SqsError {
    move |e| SqsError::Sqs { op, source: Box::new(e) }
}

/// Consecutive failed receives before `recv` gives up (with doubling
/// backoff from [`RECEIVE_BACKOFF`]: about 6 s in all).
pub const MAX_RECEIVE_FAILURES: u32 = 5;
pub const RECEIVE_BACKOFF: Duration = Duration::from_millis(200);

/// Where the queue is and who we are.
#[derive(Debug, Clone)]
pub struct SqsConfig {
    /// `None` for AWS itself; an `http://127.0.0.1:PORT` for a compatible server.
    pub endpoint: Option<String>,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
}

/// A received message: the task and the handle that acknowledges it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub task: TaskId,
    pub receipt: String,
    /// How many times SQS has handed this message out.
    pub receive_count: u32,
}

/// One SQS queue of task ids.
#[derive(Clone)]
pub struct SqsQueue {
    client: Client,
    url: String,
    visibility: Duration,
    closed: Arc<AtomicBool>,
}

impl SqsQueue {
    pub fn client(config: &SqsConfig) -> Client {
        let credentials = Credentials::new(&config.access_key_id, &config.secret_access_key, None, None, "trace");
        let mut builder = aws_sdk_sqs::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(config.region.clone()))
            .credentials_provider(credentials);
        if let Some(endpoint) = &config.endpoint {
            builder = builder.endpoint_url(endpoint);
        }
        Client::from_conf(builder.build())
    }

    /// Find the queue `name`, creating it if missing. `visibility` is how
    /// long a message this handle receives stays hidden before it is handed
    /// out again; it is sent with each receive, so processes with different
    /// settings share one queue (CreateQueue with different attributes would
    /// be refused).
    pub async fn open(client: Client, name: &str, visibility: Duration) -> Result<Self, SqsError> {
        let url = match client.get_queue_url().queue_name(name).send().await {
            Ok(out) => out.queue_url,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_queue_does_not_exist()) => {
                match client.create_queue().queue_name(name).send().await {
                    Ok(out) => out.queue_url,
                    // Another process created it in between.
                    Err(e) if e.as_service_error().is_some_and(|s| s.is_queue_name_exists()) => {
                        client.get_queue_url().queue_name(name).send().await.map_err(sqs("GetQueueUrl"))?.queue_url
                    }
                    Err(e) => return Err(sqs("CreateQueue")(e)),
                }
            }
            Err(e) => return Err(sqs("GetQueueUrl")(e)),
        };
        let url = url.ok_or_else(|| SqsError::BadMessage { id: None, body: Some("SQS returned no queue URL".into()) })?;
        Ok(Self { client, url, visibility, closed: Arc::new(AtomicBool::new(false)) })
    }

    /// Send one task id.
    pub async fn send(&self, task: TaskId) -> Result<(), SqsError> {
        self.client.send_message().queue_url(&self.url).message_body(task.to_string()).send().await.map_err(sqs("SendMessage"))?;
        Ok(())
    }

    /// Receive up to `max` (at most 10, SQS's limit) messages, waiting up to
    /// `wait` for the first.
    pub async fn receive(&self, max: i32, wait: Duration) -> Result<Vec<Delivery>, SqsError> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(max.clamp(1, 10))
            .visibility_timeout(self.visibility.as_secs().clamp(1, 43_200) as i32)
            .wait_time_seconds(wait.as_secs().min(20) as i32)
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await
            .map_err(sqs("ReceiveMessage"))?;
        out.messages
            .unwrap_or_default()
            .into_iter()
            .map(|m| {
                let task = m.body.as_deref().and_then(|b| b.trim().parse::<TaskId>().ok());
                let receive_count = m
                    .attributes
                    .as_ref()
                    .and_then(|a| a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(1);
                match (task, m.receipt_handle) {
                    (Some(task), Some(receipt)) => Ok(Delivery { task, receipt, receive_count }),
                    _ => Err(SqsError::BadMessage { id: m.message_id, body: m.body }),
                }
            })
            .collect()
    }

    /// Acknowledge a delivery: it will not be handed out again.
    pub async fn ack(&self, delivery: &Delivery) -> Result<(), SqsError> {
        self.client.delete_message().queue_url(&self.url).receipt_handle(&delivery.receipt).send().await.map_err(sqs("DeleteMessage"))?;
        Ok(())
    }
}

fn queue_error(e: SqsError) -> QueueError {
    let op = match &e {
        SqsError::Sqs { op, .. } => *op,
        SqsError::BadMessage { .. } => "receive",
    };
    QueueError { op, source: Box::new(e) }
}

/// The dispatcher and workers use SQS through the same interface as the
/// in-process queue. `recv` long-polls one message at a time, in rounds of a
/// second so that `close` takes effect promptly.
impl TaskQueue for SqsQueue {
    fn send(&self, task: TaskId) -> BoxFuture<'_, Result<(), QueueError>> {
        Box::pin(async move { SqsQueue::send(self, task).await.map_err(queue_error) })
    }

    fn recv(&self) -> BoxFuture<'_, Result<Option<QueueDelivery>, QueueError>> {
        Box::pin(async move {
            let mut failures = 0;
            while !self.closed.load(Ordering::SeqCst) {
                match self.receive(1, Duration::from_secs(1)).await {
                    Ok(mut got) => {
                        failures = 0;
                        if let Some(d) = got.pop() {
                            return Ok(Some(QueueDelivery { task: d.task, receipt: Some(d.receipt), payload: None }));
                        }
                    }
                    // A bad message is not transient: report it.
                    Err(e @ SqsError::BadMessage { .. }) => return Err(queue_error(e)),
                    // SQS unreachable: retry a while before giving up.
                    Err(e) if failures + 1 < MAX_RECEIVE_FAILURES => {
                        failures += 1;
                        tracing::warn!(error = %e, failures, "receiving from SQS failed; retrying");
                        tokio::time::sleep(RECEIVE_BACKOFF * (1 << failures)).await;
                    }
                    Err(e) => return Err(queue_error(e)),
                }
            }
            Ok(None)
        })
    }

    fn ack<'a>(&'a self, delivery: &'a QueueDelivery) -> BoxFuture<'a, Result<(), QueueError>> {
        Box::pin(async move {
            let Some(receipt) = &delivery.receipt else { return Ok(()) };
            let d = Delivery { task: delivery.task, receipt: receipt.clone(), receive_count: 1 };
            SqsQueue::ack(self, &d).await.map_err(queue_error)
        })
    }

    fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
    }
}
