//! Webhooks against a real receiver on 127.0.0.1 that checks every
//! signature and fails the first attempts in each way a receiver can: a
//! 500, a 429 with `Retry-After`, an answer slower than the sender's time
//! limit, and a connection closed without an answer. Every delivery arrives,
//! with the same `webhook-id` on every attempt, so de-duplicating by it
//! yields each exactly once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use trace_delivery::{RetrySchedule, Sender, Webhook, WebhookSecret};

/// What the receiver does with the n-th request it gets (then: 200).
#[derive(Clone, Copy, Debug)]
enum Misbehave {
    Status500,
    TooManyRequests { retry_after_secs: u64 },
    Slow { secs: u64 },
    Drop,
}

#[derive(Debug, Clone)]
struct Seen {
    id: String,
    timestamp: i64,
    signature_ok: bool,
    accepted: bool,
    at: Instant,
}

struct Receiver {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

async fn read_request(stream: &mut TcpStream) -> Option<(HashMap<String, String>, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let headers: HashMap<String, String> = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':').map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned())))
        .collect();
    let length: usize = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some((headers, body))
}

async fn answer(mut stream: TcpStream, secret: &WebhookSecret, script: &[Misbehave], next: &std::sync::atomic::AtomicUsize, record: &Mutex<Vec<Seen>>) {
    let Some((headers, body)) = read_request(&mut stream).await else { return };
    let header = |k: &str| headers.get(k).cloned().unwrap_or_default();
    let (id, timestamp) = (header("webhook-id"), header("webhook-timestamp").parse::<i64>().unwrap_or(0));
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64;
    let signature_ok = secret.verify(&id, timestamp, &body, &header("webhook-signature"), now);
    let step = script.get(next.fetch_add(1, std::sync::atomic::Ordering::SeqCst)).copied();
    let accepted = step.is_none() && signature_ok;
    record.lock().unwrap().push(Seen { id, timestamp, signature_ok, accepted, at: Instant::now() });
    let reply = match step {
        None if signature_ok => "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok".to_owned(),
        None => "HTTP/1.1 401 Unauthorized\r\ncontent-length: 13\r\n\r\nbad signature".to_owned(),
        Some(Misbehave::Status500) => "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 4\r\n\r\noops".to_owned(),
        Some(Misbehave::TooManyRequests { retry_after_secs }) => {
            format!("HTTP/1.1 429 Too Many Requests\r\nretry-after: {retry_after_secs}\r\ncontent-length: 4\r\n\r\nslow")
        }
        Some(Misbehave::Slow { secs }) => {
            tokio::time::sleep(Duration::from_secs(secs)).await;
            "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok".to_owned()
        }
        // Closed without a word.
        Some(Misbehave::Drop) => return,
    };
    let _ = stream.write_all(reply.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// A receiver that misbehaves as `script` says for its first requests.
async fn receiver(secret: WebhookSecret, script: Vec<Misbehave>) -> Receiver {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let script = Arc::new(script);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            // Each connection on its own: a slow answer holds up no other.
            let (secret, script, next, record) = (secret.clone(), script.clone(), next.clone(), record.clone());
            tokio::spawn(async move { answer(stream, &secret, &script, &next, &record).await });
        }
    });
    Receiver { url, seen }
}

/// Attempt until delivered or the schedule ends; the attempts made.
async fn deliver(sender: &Sender, schedule: &RetrySchedule, hook: &Webhook<'_>) -> Vec<trace_delivery::Attempt> {
    let mut attempts = Vec::new();
    loop {
        let attempt = sender.attempt(hook).await;
        let (done, retry_after) = (attempt.delivered(), attempt.retry_after);
        attempts.push(attempt);
        if done {
            return attempts;
        }
        match schedule.next(attempts.len() as u32, retry_after) {
            Some(wait) => tokio::time::sleep(wait).await,
            None => return attempts,
        }
    }
}

fn fast_schedule() -> RetrySchedule {
    RetrySchedule { waits: vec![Duration::from_millis(20); 6], jitter_percent: 20 }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_webhook_arrives_once_after_deduplication_with_valid_signatures() {
    let secret = WebhookSecret::generate();
    let script = vec![Misbehave::Status500, Misbehave::TooManyRequests { retry_after_secs: 1 }, Misbehave::Slow { secs: 3 }, Misbehave::Drop];
    let r = receiver(secret.clone(), script).await;
    let sender = Sender::new(Duration::from_millis(700)).unwrap();
    let schedule = fast_schedule();

    let body = br#"{"alert_key":"big-transfer","severity":"high"}"#;
    let hook = Webhook { id: "dlv_1", url: &r.url, secret: &secret, body };
    let attempts = deliver(&sender, &schedule, &hook).await;
    let statuses: Vec<Option<u16>> = attempts.iter().map(|a| a.status).collect();
    assert_eq!(statuses, vec![Some(500), Some(429), None, None, Some(200)], "{attempts:?}");
    assert_eq!(attempts[0].excerpt, "oops");
    assert_eq!(attempts[1].retry_after, Some(Duration::from_secs(1)));
    assert_eq!(attempts[2].excerpt, "timed out");
    assert_eq!(attempts[3].excerpt, "the connection failed");
    assert!(attempts[2].elapsed < Duration::from_secs(2), "the time limit held: {:?}", attempts[2].elapsed);

    // A second delivery goes through at once.
    let hook = Webhook { id: "dlv_2", url: &r.url, secret: &secret, body: br#"{"alert_key":"other"}"# };
    assert_eq!(deliver(&sender, &schedule, &hook).await.len(), 1);

    let seen = r.seen.lock().unwrap().clone();
    assert!(seen.iter().all(|s| s.signature_ok), "every attempt was signed: {seen:?}");
    let first: Vec<&Seen> = seen.iter().filter(|s| s.id == "dlv_1").collect();
    assert_eq!(first.len(), 5, "the receiver saw every attempt of dlv_1 under the same id: {seen:?}");
    assert!(first.windows(2).all(|w| w[0].timestamp <= w[1].timestamp), "timestamps are taken per attempt");
    // The 429 asked for a second's pause, and got it.
    assert!(first[2].at.duration_since(first[1].at) >= Duration::from_secs(1));
    // Only the final attempt of each was answered 2xx: the receiver accepted
    // each delivery once, and ids would have caught any repeat.
    let accepted: Vec<&str> = seen.iter().filter(|s| s.accepted).map(|s| s.id.as_str()).collect();
    assert_eq!(accepted, vec!["dlv_1", "dlv_2"], "each delivery accepted exactly once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_that_never_accepts_exhausts_the_schedule_and_a_wrong_secret_is_refused() {
    let secret = WebhookSecret::generate();
    let r = receiver(secret.clone(), vec![Misbehave::Status500; 100]).await;
    let sender = Sender::new(Duration::from_secs(2)).unwrap();
    let schedule = RetrySchedule { waits: vec![Duration::from_millis(5); 3], jitter_percent: 20 };
    let hook = Webhook { id: "dlv_x", url: &r.url, secret: &secret, body: b"{}" };
    let attempts = deliver(&sender, &schedule, &hook).await;
    assert_eq!(attempts.len(), 4, "the first and three retries");
    assert!(attempts.iter().all(|a| a.status == Some(500)));

    // Signed with a secret the receiver does not hold: refused, never accepted.
    let r = receiver(secret, vec![]).await;
    let stranger = WebhookSecret::generate();
    let hook = Webhook { id: "dlv_y", url: &r.url, secret: &stranger, body: b"{}" };
    let attempt = sender.attempt(&hook).await;
    assert_eq!((attempt.status, attempt.excerpt.as_str()), (Some(401), "bad signature"));
    assert!(r.seen.lock().unwrap().iter().all(|s| !s.accepted && !s.signature_ok));
}
